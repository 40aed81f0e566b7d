"""Every bound on third-party input, in one place: what a hostile or broken registry reply,
saved record, config file or registry text can cost ctwatch at most. Each breach is a one-line
error for that trial or file (exit 3, or 2 for config.yaml), and nothing is stored.

The registry's own settings (timeouts, retries, pace, deadline, page size, api.max_reply_mb's
default) are keys of config.yaml's ``api:`` section, with their defaults in fetch.ApiSettings.
"""

from __future__ import annotations

# -- Registry replies (api: settings are in fetch.ApiSettings) ---------------------------------
# Of one reply, decompressed (MB = 2**20). A study is ~15 kB of JSON (median), up to ~1 MB with
# results, so a page of 1000 can pass it: such a page is asked for again in halves. A reply
# without end or a gzip bomb stops here.
DEFAULT_MAX_REPLY_MB = 64.0
# Not knowing the data timestamp only means checking every trial, so /api/v2/version gets at
# most this many attempts, within one timeout in all, not the whole deadline.
VERSION_ATTEMPTS = 2
# Every watched trial is read in full at least this often (api.full_sweep_days' default), its
# record hashed and compared, however its last-update date stands (issue 13).
DEFAULT_FULL_SWEEP_DAYS = 7.0
# Registry version numbers, for an alert's link to the registry's comparison view, cost one
# request per changed trial (its history index): a run looks up at most this many, for the
# change sets it alerts; the other alerts link to the record's history tab.
MAX_VERSION_LOOKUPS = 100
# Trials read in full are stored this many to a transaction (each a savepoint in it): one
# commit instead of hundreds, and a kill loses at most this many trials' work, which the next
# run redoes (benchmarks/check.py, first check).
BATCH_TRIALS = 200
# Allocations between two runs of Python's youngest garbage collection during a check (the
# default is 700): memory held by reference cycles waits a little longer to be freed.
GC_THRESHOLD = 50_000
# A page that cannot be decoded is asked again in halves to find the record at fault: ~10
# splits isolate one record among 1000, 20 about two; past that the fault is not one record,
# and a registry sending junk to every request costs at most ~2·20 more requests per 1000 ids.
MAX_SPLITS_PER_BATCH = 20
# A batch needs ⌈ids/pageSize⌉ pages; a registry whose pages come up short gets this many
# more, and one that keeps sending page tokens is not followed further.
EXTRA_PAGES = 2
MAX_REDIRECTS = 5  # an alias costs one; a loop ends here

# -- Signals and schedules ---------------------------------------------------------------------
# Longest interval and jitter: APScheduler overflows on dates past year 9999 (issue 11).
MAX_INTERVAL_S = 366 * 86400
# After SIGTERM or SIGINT, how long `check` may take to finish the trial in hand before what
# it waits for (a trickling reply, a silent server) is abandoned: a stop within ~5 s.
STOP_GRACE_S = 3.0

# -- Saved records -----------------------------------------------------------------------------
#: The largest saved record read (a file or standard input): a study is rarely above 2 MB,
#: a list page of 1,000 studies about 20 MB.
MAX_RECORD_BYTES = 64 * 1024 * 1024

# -- config.yaml -------------------------------------------------------------------------------
MAX_CONFIG_BYTES = 16 * 2**20  # a larger config.yaml is refused unread (16 MB: ~200,000 trials)
MAX_CONFIG_DEPTH = 50  # levels of nesting in config.yaml (a real one has fewer than 10)
MAX_API_SECONDS = 86_400  # any duration in the api: section; longer overflows the system's timers
MIN_REQUESTS_PER_SECOND = 1 / 3600  # api.requests_per_second, at least: one request an hour

# -- The store ---------------------------------------------------------------------------------
# Seconds to reach a PostgreSQL server (libpq's connect_timeout, unless the store: URL sets
# one): a host that drops packets fails the command in one line instead of hanging it.
STORE_CONNECT_TIMEOUT_S = 10

# -- Messages ----------------------------------------------------------------------------------
QUOTED = 300  # characters of a value, at most, that a message quotes

# -- Alert channels ----------------------------------------------------------------------------
MAX_CHANNEL_TIMEOUT_S = 600  # a channel's timeout_s, at most; longer overflows the system's timers
MAX_WEBHOOK_RETRIES = 10  # retries, at most
MAX_WEBHOOK_BACKOFF_S = 60  # backoff_s, and any one wait between tries (Retry-After too), at most

# -- Registry text -----------------------------------------------------------------------------
MAX_DAY_SPAN = 366  # "Days 1-21" lists 21 days; "Days 1-100000" only its two ends
# "75,000" has a thousands separator; "0,1 mV" is a European decimal comma. The separator
# repeats at most MAX_GROUPS times (10^30): unbounded, every group of a long run like
# "1,000,000,…" would start a scan to the end of the run, quadratic in its length.
MAX_GROUPS = 9
# Lists nested deeper in plain text are read as text: every level re-reads the lines under it
# (and is one more call deep). The markdown parser stops at 20 levels of its own.
MAX_NESTING = 16

# -- Diffs -------------------------------------------------------------------------------------
# difflib's word matching runs on a budget of steps (a step: one word of one text looked up
# among the other's, 50-100 ns), as it is cubic on text that repeats a few words: 600 words of
# "a b c a b c …" against their reverse take 1.5 s. Each budget is one diff's, shared by all
# its lists or texts; once spent, the rest is reported coarsely, as described.
PAIRING_STEPS = 20_000_000  # pairing edited criteria; then the rest are removed + added
COMPARISON_STEPS = 300  # the least one comparison of two criteria costs (~20 µs)
SUMMARY_STEPS = 20_000_000  # summarizing long texts; then first to last edit is one edit
