// Package rejectlog reads MTA logs and extracts DNSBL rejections: who was
// rejected, when, by which list.
//
// # Recognised lines
//
// A [Parser] turns one log line into a [Rejection]. It knows the lines that
// Postfix smtpd (reject_rbl_client), Postfix postscreen (the "DNSBL rank"
// line and its NOQUEUE reject), Exim (dnslists ACL rejections in the main
// log or through syslog, in Exim's wording or an ACL's own message) and
// Sendmail FEATURE(dnsbl) (its wording or a message set per list) write
// when a client is refused because its address is on a DNS block list, and
// rspamd's result line for a message it rejected with an RBL symbol on the
// client's address. An operator's own message or rspamd names the list in
// its own words: [Rejection.ZoneKind] then says what the zone is (a name, a
// URL's host, a symbol). The operator's [Pattern]s ([Options.Patterns]) are
// tried on the lines no built-in form matches. Every other line is
// counted and skipped: rejections for other reasons, warnings, lines whose
// client address is not a literal address, truncated lines, and
// domain-based (RHSBL) listings, which say nothing about the client address.
// A line is accepted only when every address it repeats is the same, so a
// rejection is always attributed to the connecting client.
//
// Lines must start with a timestamp: classic syslog ("Nov 26 10:00:00",
// "Nov  6 10:00:00", optionally with a fraction), RFC 3339 as rsyslog writes
// it ("2026-11-26T10:00:00.123456+00:00", also with "Z"), journald's
// short-iso and short-iso-precise ("2026-11-26T10:00:00+0000"), or Exim's
// main log ("2026-11-26 10:00:00", optionally with a fraction and a
// "+0100" zone). Classic and Exim timestamps without a zone are read in
// [Options.Location]. Classic timestamps carry no year: the parser infers it
// from the latest time it has seen and from when the log ends: now, unless
// [Options.End] says otherwise (analyze gives the capture's end; see
// [Parser.Parse]).
//
// # Reading and following
//
// [OpenLog] opens plain, gzip and bzip2 files (recognised by their magic
// bytes), [Generations] lists a log's rotated generations oldest first
// (numbered and dateext names), and [ScanFiles] feeds them through a
// parser. Damage is never fatal: a run of NUL bytes (what a crash leaves
// of preallocated blocks) ends a line and is counted as garbage, and a
// compressed file that is cut short or corrupt is read up to the damage,
// reported as a [DamageError] and counted.
//
// [Follow] tails a live log across rotation by rename and by copytruncate
// and delivers complete lines in batches, each with the [Position] after
// it: device and inode, the offset of the next line, and a hash of the
// file's first bytes (up to 1 KiB). The hash tells a file apart from a
// later one that reuses its inode, and finds the file again after it was
// copied (copytruncate) or compressed, so a caller that persists the
// position resumes without losing or repeating a line, also when the log
// was rotated while nothing was running.
//
// [Follower] is the one follower of the project (the agent's and
// `mxsensor rejectlog --follow`'s): it parses each batch, hands the
// rejections over and then records the position after the batch in a
// [PositionStore], the results store or a [StateFile].
//
// [PrintArgs] and [FollowToWriter] print rejections as JSON lines (what
// `mxsensor rejectlog` shows), recording no position.
//
// [FollowToFile] builds exactly-once delivery on it: rejections
// are appended to a JSON-lines file and, after each batch, a state file
// records atomically (write, fsync, rename, fsync of the directory) the log
// position together with the length the output had after that batch. A
// restarted process truncates the output to that length and resumes at
// that position, so whatever a killed process wrote after its last saved
// state is written again, once.
package rejectlog
