// Package distributedlock holds the scenarios of the distributed-lock challenge: two replicas of
// a service compete to run one job, the report, which must run on one worker at a time even when
// the worker holding the lock is frozen past its lease or killed. The job writes its steps to the
// downstream fake's fenced store with a fencing token; that store's record of every call (who
// wrote, under which token, when, accepted or refused) is the ground truth, never the app's own
// answers.
package distributedlock
