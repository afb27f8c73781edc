// Package e2e holds gtc's end-to-end reliability and security tests: kill -9 crash loops against the
// real binary, injected faults (storage writes refused by the kernel, a broken issues.jsonl, silent
// connections, a wall-clock jump) and a table of hostile inputs against a live daemon. It has no API;
// docs/reliability.md reports what the tests prove and the commands that produce the figures.
package e2e
