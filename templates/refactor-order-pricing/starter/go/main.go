// Tea shop quote service. Works, passes the tests, nobody wants to touch it.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"
)

type item struct {
	Sku string `json:"sku"`
	Qty int    `json:"qty"`
}

type req struct {
	Items  []item `json:"items"`
	Region string `json:"region"`
	Coupon string `json:"coupon"`
	Tier   string `json:"tier"`
}

// catalog: sku -> name, price, weight, kind (1 tea, 2 ware, 3 gift)
var names = map[string]string{"TEA-GREEN": "Green tea 100 g", "TEA-BLACK": "Black tea 100 g", "TEA-OOLONG": "Oolong 100 g",
	"MUG-CLAY": "Clay mug", "POT-IRON": "Cast-iron teapot", "FILTER-100": "Paper filters x100", "GIFT-25": "Gift card 25"}
var prices = map[string]int64{"TEA-GREEN": 450, "TEA-BLACK": 395, "TEA-OOLONG": 795, "MUG-CLAY": 1250, "POT-IRON": 4999, "FILTER-100": 299, "GIFT-25": 2500}
var weights = map[string]int64{"TEA-GREEN": 120, "TEA-BLACK": 120, "TEA-OOLONG": 120, "MUG-CLAY": 400, "POT-IRON": 1600, "FILTER-100": 80, "GIFT-25": 0}
var kinds = map[string]int{"TEA-GREEN": 1, "TEA-BLACK": 1, "TEA-OOLONG": 1, "MUG-CLAY": 2, "POT-IRON": 2, "FILTER-100": 2, "GIFT-25": 3}

// rnd divides a by b and rounds half to even (finance asked for it in 2019, see ticket PRC-88)
func rnd(a, b int64) int64 {
	q := a / b
	r := a % b
	if r*2 > b {
		return q + 1
	}
	if r*2 == b {
		if q%2 != 0 {
			return q + 1
		}
	}
	return q
}

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func quote(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" {
		fail(w, 405, "method not allowed")
		return
	}
	var in req
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&in); err != nil {
		fail(w, 400, "invalid body")
		return
	}
	if dec.More() {
		fail(w, 400, "invalid body")
		return
	}
	var tmp map[string]json.RawMessage
	_ = tmp
	if len(in.Items) == 0 {
		fail(w, 400, "items must be a non-empty list")
		return
	}
	// merge lines (keep first position)
	skus := []string{}
	qtys := []int{}
	for i := 0; i < len(in.Items); i++ {
		if in.Items[i].Qty < 1 || in.Items[i].Qty > 999 {
			fail(w, 400, "qty must be an integer from 1 to 999")
			return
		}
		found := false
		for j := 0; j < len(skus); j++ {
			if skus[j] == in.Items[i].Sku {
				qtys[j] = qtys[j] + in.Items[i].Qty
				found = true
			}
		}
		if !found {
			skus = append(skus, in.Items[i].Sku)
			qtys = append(qtys, in.Items[i].Qty)
		}
	}
	for j := 0; j < len(qtys); j++ {
		if qtys[j] > 999 {
			fail(w, 400, "qty must be an integer from 1 to 999")
			return
		}
	}
	if in.Tier != "" {
		if in.Tier != "standard" {
			if in.Tier != "gold" {
				fail(w, 400, "tier must be standard or gold")
				return
			}
		}
	}
	for j := 0; j < len(skus); j++ {
		if _, ok := prices[skus[j]]; !ok {
			fail(w, 422, "unknown sku: "+skus[j])
			return
		}
	}
	region := in.Region
	if region == "" {
		region = "EU"
	}
	if region != "EU" && region != "UK" && region != "US" && region != "CH" {
		fail(w, 422, "unsupported region: "+region)
		return
	}
	code := strings.ToUpper(strings.TrimSpace(in.Coupon))
	if code != "" && code != "WELCOME10" && code != "TEA5" && code != "FREESHIP" {
		fail(w, 422, "unknown coupon: "+code)
		return
	}

	lines := []map[string]interface{}{}
	totals := []int64{}
	var sub, disc, weight, teas int64
	onlyGifts := true
	for j := 0; j < len(skus); j++ {
		s := skus[j]
		q := int64(qtys[j])
		gross := prices[s] * q
		var d int64
		if kinds[s] != 3 {
			onlyGifts = false
			if q >= 50 {
				d = rnd(gross*10, 100)
			} else if q >= 10 {
				d = rnd(gross*5, 100)
			}
			disc = disc + (gross - d) // disc holds the discountable amount for now
		}
		if kinds[s] == 1 {
			teas = teas + q
		}
		weight = weight + weights[s]*q
		sub = sub + gross - d
		l := map[string]interface{}{"sku": s, "name": names[s], "qty": q, "unit_price": prices[s], "discount": d, "total": gross - d}
		// insertion sort by total, highest first (stable: equal totals keep their order)
		pos := len(lines)
		for pos > 0 && totals[pos-1] < gross-d {
			pos--
		}
		lines = append(lines, nil)
		totals = append(totals, 0)
		copy(lines[pos+1:], lines[pos:])
		copy(totals[pos+1:], totals[pos:])
		lines[pos] = l
		totals[pos] = gross - d
	}
	discountable := disc
	disc = 0
	goldOff := int64(0)
	if in.Tier == "gold" {
		goldOff = rnd(discountable*3, 100)
		disc = goldOff
	}
	if code == "WELCOME10" {
		if discountable >= 2000 {
			disc = disc + rnd((discountable-goldOff)*10, 100)
		}
	} else if code == "TEA5" {
		if teas >= 3 {
			if discountable-goldOff < 500 {
				disc = disc + (discountable - goldOff)
			} else {
				disc = disc + 500
			}
		}
	}
	goods := discountable - disc

	var ship, tax int64
	var cur string
	if region == "EU" {
		cur = "EUR"
		if onlyGifts || code == "FREESHIP" || goods >= 5000 {
			ship = 0
		} else {
			ship = 495
			if weight > 1000 {
				extra := weight - 1000
				steps := extra / 500
				if extra%500 != 0 {
					steps++
				}
				ship = ship + steps*100
			}
		}
		tax = rnd((goods+ship)*2000, 10000)
	} else if region == "UK" {
		cur = "GBP"
		if onlyGifts || code == "FREESHIP" || goods >= 4500 {
			ship = 0
		} else {
			ship = 595
			if weight > 1000 {
				extra := weight - 1000
				steps := extra / 500
				if extra%500 != 0 {
					steps++
				}
				ship = ship + steps*100
			}
		}
		tax = rnd((goods+ship)*2000, 10000)
	} else if region == "US" {
		cur = "USD"
		if onlyGifts || code == "FREESHIP" || goods >= 7500 {
			ship = 0
		} else {
			ship = 895
			if weight > 1000 {
				extra := weight - 1000
				steps := extra / 500
				if extra%500 != 0 {
					steps++
				}
				ship = ship + steps*100
			}
		}
		tax = 0
	} else {
		cur = "CHF"
		if onlyGifts || code == "FREESHIP" || goods >= 10000 {
			ship = 0
		} else {
			ship = 1295
			if weight > 1000 {
				extra := weight - 1000
				steps := extra / 500
				if extra%500 != 0 {
					steps++
				}
				ship = ship + steps*100
			}
		}
		tax = rnd((goods+ship)*810, 10000)
	}

	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]interface{}{"currency": cur, "lines": lines, "subtotal": sub, "discount": disc,
		"shipping": ship, "tax": tax, "total": sub - disc + ship + tax})
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.HandleFunc("/api/quote", quote)
	log.Printf("pricing listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
