package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Ports the agent listens on inside the sandbox.
const (
	ControlPort  = 9090 // control API, for the harness only (bearer token)
	ProviderPort = 8081 // the provider fake itself; the "provider" link proxies to it
)

// Config is the agent's start-up configuration, read from its environment by cmd/agent.
type Config struct {
	Token       string // bearer token for the control API; required
	Links       []Link // proxies to run
	ControlAddr string // default ":9090"
	// ProviderAddr is where the provider fake listens; default "127.0.0.1:8081", reachable only
	// through the "provider" link, so that the app cannot step around its faults.
	ProviderAddr string
	// DownstreamAddr is where the downstream fake listens; default "127.0.0.1:8082", behind the
	// "downstream" link.
	DownstreamAddr string
	// TrafficEvery is how often the agent logs what the app sent the fakes (a "traffic" line,
	// read back by the runner when the agent dies); default 250 ms.
	TrafficEvery time.Duration
}

// Server runs the proxies, the provider and the control API.
type Server struct {
	cfg        Config
	log        *slog.Logger
	toxi       *toxiproxy.ApiServer
	provider   *Provider
	downstream *Downstream
	traffic    traffic
	// events is what happened since the last reset, for a failed scenario's timeline.
	events *EventLog
}

// NewServer validates cfg and prepares (but does not start) the agent.
func NewServer(cfg Config, log *slog.Logger) (*Server, error) {
	if len(cfg.Token) < 16 {
		return nil, errors.New("agent token must be at least 16 characters")
	}
	if cfg.ControlAddr == "" {
		cfg.ControlAddr = fmt.Sprintf(":%d", ControlPort)
	}
	if cfg.ProviderAddr == "" {
		cfg.ProviderAddr = fmt.Sprintf("127.0.0.1:%d", ProviderPort)
	}
	if cfg.DownstreamAddr == "" {
		cfg.DownstreamAddr = fmt.Sprintf("127.0.0.1:%d", DownstreamPort)
	}
	if cfg.TrafficEvery <= 0 {
		cfg.TrafficEvery = 250 * time.Millisecond
	}
	events := NewEventLog()
	// The proxies' log at info level is one line per connection: the links' events.
	toxi := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.New(linkWatcher{events}).Level(zerolog.InfoLevel))
	for _, l := range cfg.Links {
		p := toxiproxy.NewProxy(toxi, l.Name, l.Listen, l.Upstream)
		if err := toxi.Collection.Add(p, false); err != nil {
			return nil, fmt.Errorf("add link %s: %w", l.Name, err)
		}
	}
	provider, downstream := NewProvider(), NewDownstream()
	provider.events, downstream.events = events, events
	return &Server{cfg: cfg, log: log, toxi: toxi, provider: provider, downstream: downstream, events: events}, nil
}

// Run serves until ctx is cancelled.
func (s *Server) Run(ctx context.Context) error {
	for name, p := range s.toxi.Collection.Proxies() {
		if err := startProxy(p); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	defer func() {
		for _, p := range s.toxi.Collection.Proxies() {
			p.Stop()
		}
	}()
	defer s.provider.Close()
	defer s.downstream.Close()

	servers := []*http.Server{
		{Addr: s.cfg.ProviderAddr, Handler: s.traffic.count(s.provider), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 30 * time.Second, MaxHeaderBytes: maxHeaderBytes},
		{Addr: s.cfg.DownstreamAddr, Handler: s.traffic.count(s.downstream), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 30 * time.Second, MaxHeaderBytes: maxHeaderBytes},
		{Addr: s.cfg.ControlAddr, Handler: s.controlHandler(), ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: maxHeaderBytes},
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", srv.Addr, err)
		}
		go func() { errc <- srv.Serve(ln) }()
	}
	s.log.Info("agent ready", "links", len(s.cfg.Links), "control", s.cfg.ControlAddr)
	tick := time.NewTicker(s.cfg.TrafficEvery)
	defer tick.Stop()
	var logged Traffic
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-errc:
			return err
		case <-tick.C:
			if t := s.traffic.now(); t != logged {
				s.log.Info(trafficMsg, "requests", t.Requests, "bytes", t.Bytes)
				logged = t
			}
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	return nil
}

func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /overflow", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSONArray(w, s.overflows())
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /links/{name}", s.auth(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.toxi.Collection.Get(r.PathValue("name"))
		if err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no link named " + r.PathValue("name")})
			return
		}
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := applyFault(r.Context(), p, f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.log.Info("fault", "link", p.Name, "kind", f.Kind, "latency_ms", f.LatencyMS)
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /reset", s.auth(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range s.toxi.Collection.Proxies() {
			if err := applyFault(r.Context(), p, Fault{Kind: FaultClear}); err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
				return
			}
		}
		_ = s.provider.Behave(ProviderBehaviour{})
		s.downstream.ClearBehaviour()
		s.provider.ClearOverflows()
		s.downstream.ClearOverflows()
		s.events.Reset(false) // a reset starts a scenario: its timeline starts here
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /clock", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, EventsAnswer{Now: s.events.Since()})
	}))
	mux.HandleFunc("GET /events", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, EventsAnswer{Now: s.events.Since(), Events: s.events.Events()})
	}))
	mux.HandleFunc("POST /provider/behaviour", s.auth(func(w http.ResponseWriter, r *http.Request) {
		var b ProviderBehaviour
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := s.provider.Behave(b); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /provider/ledger", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.provider.Ledger())
	}))
	s.downstreamRoutes(mux)
	return s.withOverflows(mux)
}

// overflows are every fake's overflows since the last reset.
func (s *Server) overflows() []Overflow {
	return append(s.provider.Overflows(), s.downstream.Overflows()...)
}

// withOverflows puts the overflows on every control answer (OverflowHeader), so that an
// observation cannot miss them.
func (s *Server) withOverflows(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := s.overflows(); len(o) > 0 {
			b, _ := json.Marshal(o)
			w.Header().Set(OverflowHeader, string(b))
		}
		next.ServeHTTP(w, r)
	})
}

// auth rejects calls without the run's bearer token: the learner's app shares this network.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + s.cfg.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "bearer token required"})
			return
		}
		next(w, r)
	}
}
