// Command webhooks is a broken variant of the webhook-receiver reference: a call the downstream
// fails marks its event done. Events acknowledged while the downstream is down are never applied.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	secret          = "holdfast-webhook-secret"
	tolerance       = 5 * time.Minute
	maxBody         = 1 << 20
	workers         = 4
	callTimeout     = 5 * time.Second
	idlePoll        = 200 * time.Millisecond
	startupDeadline = 30 * time.Second
)

const schema = `
CREATE TABLE IF NOT EXISTS inbox (
	event_id        text PRIMARY KEY,
	type            text NOT NULL,
	account         text NOT NULL,
	amount          bigint NOT NULL,
	version         bigint NOT NULL,
	balance         bigint NOT NULL,
	received_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
	attempts        int NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	done_at         timestamptz
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (next_attempt_at) WHERE done_at IS NULL;
CREATE TABLE IF NOT EXISTS accounts (
	account text PRIMARY KEY,
	version bigint NOT NULL
)`

const (
	credited       = "account.credited"        // add amount, exactly once
	balanceUpdated = "account.balance_updated" // the balance at a version; the newest wins
)

type event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Account string `json:"account"`
	Amount  int64  `json:"amount,omitempty"`
	Version int64  `json:"version,omitempty"`
	Balance int64  `json:"balance,omitempty"`
}

type server struct {
	db         *pgxpool.Pool
	downstream string
	client     *http.Client
	wake       chan struct{}
}

func main() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("DATABASE_URL: %v", err)
	}
	cfg.MaxConns = workers + 6
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	if err := migrate(ctx, db); err != nil {
		log.Fatalf("migrate: %v", err)
	}
	s := &server{db: db, downstream: strings.TrimRight(getenv("DOWNSTREAM_URL", "http://downstream:8070"), "/"),
		client: &http.Client{Timeout: callTimeout}, wake: make(chan struct{}, workers)}
	for range workers {
		go s.work(ctx)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /webhooks", s.receive)
	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// migrate creates the tables once the database answers; an advisory lock keeps two replicas
// starting together from racing on CREATE TABLE.
func migrate(ctx context.Context, db *pgxpool.Pool) error {
	deadline := time.Now().Add(startupDeadline)
	for {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(424242)`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, schema)
			return err
		})
		if err == nil || time.Now().After(deadline) {
			return err
		}
		log.Printf("database not ready: %v", err)
		time.Sleep(500 * time.Millisecond)
	}
}

// receive handles POST /webhooks: verify, store once, acknowledge.
func (s *server) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
		return
	}
	id, ts := r.Header.Get("Webhook-Id"), r.Header.Get("Webhook-Timestamp")
	if reason := verify(id, ts, r.Header.Get("Webhook-Signature"), body, time.Now()); reason != "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": reason})
		return
	}
	var e event
	if err := json.Unmarshal(body, &e); err != nil || e.Account == "" || (e.Type != credited && e.Type != balanceUpdated) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not an event"})
		return
	}
	// The signed Webhook-Id is the event's identity, whatever the body says.
	_, err = s.db.Exec(r.Context(), `INSERT INTO inbox (event_id, type, account, amount, version, balance) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (event_id) DO NOTHING`, id, e.Type, e.Account, e.Amount, e.Version, e.Balance)
	if err != nil {
		log.Printf("store %s: %v", id, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "could not store the event"})
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}

// verify returns why a delivery is refused, or "" when its signature and timestamp are good.
func verify(id, ts, signature string, body []byte, now time.Time) string {
	if id == "" || ts == "" || signature == "" {
		return "Webhook-Id, Webhook-Timestamp and Webhook-Signature are required"
	}
	hexSig, ok := strings.CutPrefix(signature, "v1=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return "bad signature"
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return "bad signature"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "bad timestamp"
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return "timestamp outside the tolerance"
	}
	return ""
}

// work applies events until ctx ends.
func (s *server) work(ctx context.Context) {
	for ctx.Err() == nil {
		found, err := s.applyOne(ctx)
		if err != nil {
			log.Printf("apply: %v", err)
		}
		if found && err == nil {
			continue
		}
		select {
		case <-s.wake:
		case <-time.After(idlePoll):
		case <-ctx.Done():
		}
	}
}

// applyOne takes one due event and applies it, or skips it, or schedules its next attempt.
func (s *server) applyOne(ctx context.Context) (found bool, err error) {
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var e event
		var attempts int
		err := tx.QueryRow(ctx, `SELECT event_id, type, account, amount, version, balance, attempts FROM inbox
			WHERE done_at IS NULL AND next_attempt_at <= clock_timestamp()
			ORDER BY received_at LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&e.ID, &e.Type, &e.Account, &e.Amount, &e.Version, &e.Balance, &attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		newer := true
		if e.Type == balanceUpdated {
			if _, err := tx.Exec(ctx, `INSERT INTO accounts (account, version) VALUES ($1, 0) ON CONFLICT DO NOTHING`, e.Account); err != nil {
				return err
			}
			var applied int64
			if err := tx.QueryRow(ctx, `SELECT version FROM accounts WHERE account = $1 FOR UPDATE`, e.Account).Scan(&applied); err != nil {
				return err
			}
			newer = e.Version > applied
		}
		if newer {
			if err := s.call(ctx, e); err != nil {
				// The downstream refused it: record the attempt and move on.
				log.Printf("event %s, attempt %d: %v; giving up", e.ID, attempts+1, err)
				_, err := tx.Exec(ctx, `UPDATE inbox SET attempts = attempts + 1, done_at = clock_timestamp() WHERE event_id = $1`, e.ID)
				return err
			}
			if e.Type == balanceUpdated {
				if _, err := tx.Exec(ctx, `UPDATE accounts SET version = $2 WHERE account = $1`, e.Account, e.Version); err != nil {
					return err
				}
			}
		}
		_, err = tx.Exec(ctx, `UPDATE inbox SET done_at = clock_timestamp() WHERE event_id = $1`, e.ID)
		return err
	})
	return found, err
}

// call applies e at the downstream: POST /accounts/{account}/credits for a credit, PUT
// /accounts/{account} for a balance.
func (s *server) call(ctx context.Context, e event) error {
	method, url := http.MethodPut, s.downstream+"/accounts/"+e.Account
	body, _ := json.Marshal(map[string]any{"event_id": e.ID, "version": e.Version, "balance": e.Balance})
	if e.Type == credited {
		method, url = http.MethodPost, url+"/credits"
		body, _ = json.Marshal(map[string]any{"event_id": e.ID, "amount": e.Amount})
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("downstream answered %d", resp.StatusCode)
	}
	return nil
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("write response: %v", err)
	}
}
