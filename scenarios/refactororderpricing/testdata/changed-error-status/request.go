package main

import (
	"encoding/json"
	"net/http"
	"strings"
)

type item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

type quoteRequest struct {
	Items  []item `json:"items"`
	Region string `json:"region"`
	Coupon string `json:"coupon"`
	Tier   string `json:"tier"`
}

// apiError is a refusal with its status.
type apiError struct {
	status  int
	message string
}

func badRequest(msg string) *apiError    { return &apiError{http.StatusBadRequest, msg} }
func unprocessable(msg string) *apiError { return &apiError{http.StatusUnprocessableEntity, msg} }

// order is a validated request: merged lines, a known region, a known coupon.
type order struct {
	lines  []orderLine
	region region
	coupon string
	gold   bool
}

type orderLine struct {
	sku string
	qty int
}

func decodeRequest(r *http.Request, w http.ResponseWriter) (quoteRequest, *apiError) {
	var in quoteRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&in); err != nil || dec.More() {
		return in, badRequest("invalid body")
	}
	return in, nil
}

// validate checks a request in the order the contract gives: every 400 before any 422.
func validate(in quoteRequest) (order, *apiError) {
	if len(in.Items) == 0 {
		return order{}, badRequest("items must be a non-empty list")
	}
	lines, err := mergeLines(in.Items)
	if err != nil {
		return order{}, err
	}
	if in.Tier != "" && in.Tier != "standard" && in.Tier != "gold" {
		return order{}, badRequest("tier must be standard or gold")
	}
	for _, l := range lines {
		if _, ok := catalog[l.sku]; !ok {
			return order{}, unprocessable("unknown sku: " + l.sku)
		}
	}
	code := in.Region
	if code == "" {
		code = defaultRegion
	}
	reg, ok := regions[code]
	if !ok {
		return order{}, unprocessable("unsupported region: " + code)
	}
	coupon := strings.ToUpper(strings.TrimSpace(in.Coupon))
	if _, ok := coupons[coupon]; !ok && coupon != "" {
		return order{}, unprocessable("unknown coupon: " + coupon)
	}
	return order{lines: lines, region: reg, coupon: coupon, gold: in.Tier == "gold"}, nil
}

// mergeLines adds up repeated products into the line where each first appeared.
func mergeLines(items []item) ([]orderLine, *apiError) {
	var lines []orderLine
	at := map[string]int{}
	for _, it := range items {
		if it.Qty < 1 || it.Qty > 999 {
			return nil, badRequest("qty must be an integer from 1 to 999")
		}
		if _, ok := catalog[it.SKU]; !ok {
			return nil, badRequest("unknown sku: " + it.SKU)
		}
		if i, ok := at[it.SKU]; ok {
			lines[i].qty += it.Qty
			continue
		}
		at[it.SKU] = len(lines)
		lines = append(lines, orderLine{it.SKU, it.Qty})
	}
	for _, l := range lines {
		if l.qty > 999 {
			return nil, badRequest("qty must be an integer from 1 to 999")
		}
	}
	return lines, nil
}
