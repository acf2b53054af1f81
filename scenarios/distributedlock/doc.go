// Package distributedlock holds the scenarios of the distributed-lock challenge: two replicas of
// a service compete to run one job, the report, which must run on one worker at a time even when
// the worker holding the lock is frozen past its lease or killed. The job writes its steps to the
// downstream fake's fenced store with a fencing token; that store's record of every call (who
// wrote, under which token, when, accepted or refused) is the ground truth, never the app's own
// answers. Failures are explained from that record too (diagnose.go): a run refused at its first
// write had a token no greater than one the store accepted before — a token problem, unless the
// run under that token was still writing, which is a lock problem — and the two get different
// messages. The store failing (an error, or no answer) and Redis unreachable are scenarios of
// their own: 502 and 503 within the contract's deadlines.
package distributedlock
