// Package cachestampede holds the scenarios of the cache-stampede challenge: a read-through
// cache in Redis, shared by two replicas, in front of a slow origin. When a hot product's entry
// disappears (flushed or expired) under concurrent load, one request across both replicas may
// fill it while the others wait for that value, quickly, and a failed fill must neither be
// cached nor leave the product locked. Ground truth is the downstream fake's record of origin
// calls (how many, when each started and ended), never the app's own answers.
package cachestampede
