// Package flashsale holds the scenarios of the flash-sale challenge: an inventory service,
// run as two replicas over one Postgres, that sells a limited stock to many concurrent
// buyers without overselling, without answering sold out while units remain, and taking
// an order's units once however often it is retried. Ground truth is the harness's own
// record of every request and answer, checked for linearizability against a sequential
// stock counter with porcupine, never the app's own account of its stock.
package flashsale
