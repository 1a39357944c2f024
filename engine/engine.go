// Package engine runs Tenure's level-triggered reconciliation: workers claim
// keys "target/identity" from the delay queue, compute the desired state with
// mapper at the current time, converge the target, record the link and the
// result, and schedule the next boundary. Retries and duplicates are harmless
// by construction; a periodic sweep re-enqueues anything a crash left behind.
//
// The implementation arrives with the lifecycle engine issue.
package engine
