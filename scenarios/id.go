package scenarios

import (
	"crypto/rand"
	"encoding/hex"
)

// RandomHex returns n random bytes in hex (2n characters), for the ids a scenario makes so that
// no earlier request, round or grading used them. crypto/rand does not fail (Go 1.24 on).
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
