// An app that panics at start-up in one of its own packages: the grader annotates that line.
package main

import (
	"fmt"

	"example.com/panics/internal/boot"
)

func main() {
	fmt.Println("listening on", boot.Settings()["port"])
}
