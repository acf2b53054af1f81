// Package webhookreceiver holds the scenarios of the webhook-receiver challenge: a service, two
// replicas sharing one Postgres, that receives a provider's signed webhooks (POST /webhooks) and
// applies each event's effect to a downstream service. It must reject a delivery whose signature
// (HMAC-SHA256 over the raw body, the id and the timestamp) is wrong or whose timestamp is more
// than five minutes off, apply every event exactly once however often and wherever it is
// delivered, never apply an account's older version after a newer one, acknowledge within
// 500 ms whatever the downstream does, retry until the downstream recovers, and lose nothing it
// acknowledged when it is killed.
//
// Ground truth is the downstream fake's record of calls: an event is applied when a call carrying
// its id was answered 2xx. The scenarios never ask the app what it did.
//
// The brief numbers the properties it states (P1…); properties_test.go maps each to the
// scenarios that check it.
package webhookreceiver
