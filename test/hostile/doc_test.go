// Package hostile holds the malicious-worker suite and the flood test: the
// master against workers that lie, fork, hang and break the protocol, and
// against one client address flooding it, checking that it stays up and
// accounts each case (metrics, session line, slot freed, no zombie, no
// descriptor leak). See docs/security.md for the threat model.
//
// The fake workers are this test binary (helper-process pattern): with
// FBTFTP_HOSTILE_WORKER set, TestMain runs one instead of the tests.
package hostile
