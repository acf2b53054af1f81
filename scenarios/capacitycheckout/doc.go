// Package capacitycheckout holds the scenarios of the capacity-checkout challenge, the first of
// the capacity format: the learner ships a checkout service and a capacity claim
// (CAPACITY.yaml), and Holdfast grades the claim's honesty and the service's behaviour under
// overload and a provider fault, not its raw speed. The knee comes from an open-loop search
// (scenarios/load), the resource that saturated first from pg_stat_activity on the sidecar and
// the harness's own count of answers, never from the app's word.
package capacitycheckout
