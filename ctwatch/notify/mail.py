"""The ``email`` channel: a multipart (plain text + HTML) message through an SMTP server.

    - kind: email
      to: [ra-team@example.org]
      from: ctwatch@example.org
      smtp: {host: smtp.example.org, port: 587, starttls: true, user: ctwatch,
             password_env: CTWATCH_SMTP_PASSWORD}

The subject says what changed (``[ctwatch] CRITICAL NCT04083898: Overall Status → Terminated
(Slow accrual) and 6 more changes``); every message is marked ``Auto-Submitted: auto-generated``
(RFC 3834), so that auto-replies are not sent back to it. The password is read from the
environment variable ``password_env`` names when the channel is built, and never shown. The
Message-ID is derived from the change sets and the channel, so a message sent again after a
lost acknowledgement is recognisably the same message.
"""

from __future__ import annotations

import functools
import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from ctwatch.errors import ConfigError, NotifyError
from ctwatch.limits import MAX_CHANNEL_TIMEOUT_S
from ctwatch.logs import key_name, quoted
from ctwatch.model import ChangeSet
from ctwatch.notify.channels import (
    Channel,
    Context,
    flag,
    number,
    secret,
    text,
)
from ctwatch.notify.render import message_html, message_text, subject

log = logging.getLogger(__name__)

SMTP_KEYS = ("host", "port", "starttls", "ssl", "user", "password_env", "timeout_s")
SMTP_TIMEOUT_S = 30
LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, repr=False)
class Smtp:
    """Where and how to hand mail over. ``repr`` leaves the password out."""

    host: str
    port: int
    starttls: bool
    ssl: bool
    user: str | None
    password: str | None
    timeout_s: float

    def __repr__(self) -> str:
        return f"Smtp({self.host}:{self.port}, starttls={self.starttls}, ssl={self.ssl})"


class EmailChannel(Channel):
    """E-mail through an SMTP server: plain text and HTML, the subject naming the trial(s)."""

    kind = "email"
    keys = (*Channel.keys, "to", "from", "smtp")

    def __init__(self, name: str, sender: str, to: Sequence[str], smtp: Smtp) -> None:
        super().__init__(name)
        self.sender = sender
        self.to = tuple(to)
        self.smtp = smtp

    @classmethod
    def _create(cls, key: str, entry: Mapping[str, Any], context: Context) -> Channel:
        to = _addresses(f"{key}.to", entry.get("to"))
        sender = text(key, entry, "from", "the sender's address")
        _addresses(f"{key}.from", sender)
        smtp = _smtp(f"{key}.smtp", entry.get("smtp"), context)
        return cls(entry.get("name") or "email:" + ",".join(to), sender, to, smtp)

    def send(self, change_sets: Sequence[ChangeSet]) -> None:
        message = self.message(change_sets)
        where = f"{self.smtp.host}:{self.smtp.port}"
        try:
            refused = self._hand_over(message)
        except (OSError, smtplib.SMTPException) as error:
            raise NotifyError(f"cannot send through {where}: {self._reason(error)}") from None
        if refused:
            log.warning("%s: the server at %s refused %s", self.name, where,
                        ", ".join(sorted(refused)))

    def message(self, change_sets: Sequence[ChangeSet]) -> EmailMessage:
        """The message for these change sets: text/plain and text/html alternatives."""
        message = EmailMessage()
        message["Subject"] = subject(change_sets)
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = self._message_id(change_sets)
        trials = dict.fromkeys(c.nct_id for c in change_sets if c.nct_id)  # a search's: none
        message["X-Ctwatch-Trials"] = " ".join(trials)
        # RFC 3834: machine-made, so out-of-office replies and list software leave it alone
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(message_text(change_sets) + "\n")
        message.add_alternative(message_html(change_sets), subtype="html")
        return message

    def _hand_over(self, message: EmailMessage) -> dict[str, Any]:
        smtp = self.smtp
        client: smtplib.SMTP
        if smtp.ssl:
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s,
                                      context=self._tls)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        with client:
            if smtp.starttls:
                client.starttls(context=self._tls)
            if smtp.user and smtp.password:
                client.login(smtp.user, smtp.password)
            return client.send_message(message)

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        """Built once a channel, and only for TLS: loading the system's CA certificates costs
        ~20 ms, a hundred alerts two seconds."""
        return ssl.create_default_context()

    def _message_id(self, change_sets: Sequence[ChangeSet]) -> str:
        domain = self.sender.rpartition("@")[2].strip(">") or "ctwatch.invalid"
        return f"<ctwatch.{self.identity(change_sets)}@{domain}>"

    def _reason(self, error: Exception) -> str:
        if isinstance(error, smtplib.SMTPResponseException):
            detail = error.smtp_error
            reason = f"{error.smtp_code} " + (
                detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail))
        elif isinstance(error, OSError) and error.strerror:
            reason = error.strerror
        else:
            reason = str(error) or type(error).__name__
        reason = " ".join(reason.split())
        password = self.smtp.password
        return reason.replace(password, "***") if password else reason


def _addresses(key: str, value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise ConfigError("missing: one or more e-mail addresses", key=key)
    for item in values:
        address = parseaddr(item)[1] if isinstance(item, str) else ""
        if "@" not in address or any(c in str(item) for c in "\r\n"):
            raise ConfigError(f"not an e-mail address: {quoted(item)}", key=key)
    return tuple(values)


def _smtp(key: str, section: Any, context: Context) -> Smtp:
    if not isinstance(section, Mapping):
        raise ConfigError("missing: the SMTP server ({host: …, port: …})", key=key)
    unknown = sorted(set(section) - set(SMTP_KEYS), key=str)
    if unknown:
        raise ConfigError(f"unknown key (known: {', '.join(SMTP_KEYS)})",
                          key=f"{key}.{key_name(unknown[0])}")
    host = text(key, section, "host", "the SMTP server's host name")
    implicit = flag(key, section, "ssl", False)
    starttls = flag(key, section, "starttls", not implicit)
    if implicit and starttls:
        raise ConfigError("ssl (TLS from the start, port 465) and starttls exclude each other",
                          key=f"{key}.starttls")
    port = section.get("port", 465 if implicit else 587 if starttls else 25)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"must be a port number (got {quoted(port)})", key=f"{key}.port")
    user, password = _login(key, section, context)
    if user and not (implicit or starttls) and host not in LOOPBACK:
        raise ConfigError("would send the password unencrypted: set starttls: true or "
                          "ssl: true", key=f"{key}.user")
    return Smtp(host, port, starttls, implicit, user, password,
                number(key, section, "timeout_s", SMTP_TIMEOUT_S, minimum=0.1,
                       maximum=MAX_CHANNEL_TIMEOUT_S))


def _login(key: str, section: Mapping[str, Any], context: Context) -> tuple[str | None,
                                                                             str | None]:
    if "user" not in section and "password_env" not in section:
        return None, None
    if "user" not in section:
        raise ConfigError("missing: the user name that goes with password_env",
                          key=f"{key}.user")
    user = text(key, section, "user", "the user name to log in with")
    if "password_env" not in section:
        raise ConfigError("missing: the environment variable holding the password",
                          key=f"{key}.password_env")
    return user, secret(key, section, "password_env", context)
