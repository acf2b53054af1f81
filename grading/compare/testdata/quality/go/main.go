// Package main is a measurement fixture: the numbers in quality_test.go are counted by hand.
package main

import "fmt"

/* A block comment
   over two lines. */

// classify has complexity 1 + if + && + for + range... counted: if(1) &&(1) for(1) case(2) = 6.
func classify(n int, xs []int) string {
	if n > 0 && n < 10 {
		return "small"
	}
	for i := 0; i < n; i++ {
		switch i {
		case 1:
			fmt.Println("one")
		case 2:
			fmt.Println("two")
		default:
		}
	}
	return "big"
}

type box struct{}

func (b *box) open() func() int {
	return func() int {
		if b == nil {
			return 0
		}
		return 1
	}
}

func dupA() {
	fmt.Println("alpha line one")
	fmt.Println("alpha line two")
	fmt.Println("alpha line three")
	fmt.Println("alpha line four")
	fmt.Println("alpha line five")
	fmt.Println("alpha line six")
}

func dupB() {
	fmt.Println("alpha line one")
	fmt.Println("alpha line two")
	fmt.Println("alpha line three")
	fmt.Println("alpha line four")
	fmt.Println("alpha line five")
	fmt.Println("alpha line six")
}
