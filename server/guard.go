package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"interleave/scenarios"
)

// This file keeps other sites out. A page on any site can make a visitor's
// browser send requests here; two checks stop it from doing harm:
//
//   - the Host allow-list: a request must name this server by a loopback
//     name (localhost), an IP literal, or a name given with -allowed-hosts.
//     A name an attacker controls that resolves to this machine (DNS
//     rebinding) would otherwise make the attacker's page same-origin.
//   - cross-origin protection: a browser request that changes anything
//     (POST, PUT, PATCH, DELETE) must come from this server's own pages.

// misdirectedError is a request that names a host this server does not
// answer for: 421.
type misdirectedError struct{ host string }

func (e *misdirectedError) Error() string {
	host := scenarios.FieldName(canonicalHost(e.host))
	if e.host == "" {
		return "Host: missing; this server answers requests that name it by localhost, an IP address or a name given with -allowed-hosts"
	}
	return fmt.Sprintf("Host: %s is not a name of this server; it answers localhost, IP addresses and the names given with -allowed-hosts (start it with -allowed-hosts %s to open it under that name)", host, host)
}

// crossOriginError is a browser request from another site's page: 403.
type crossOriginError struct{ origin string }

func (e *crossOriginError) Error() string {
	origin := "another site"
	if e.origin != "" {
		origin = scenarios.FieldName(e.origin)
	}
	return fmt.Sprintf("cross-origin request refused: a page on %s may not start, change or cancel anything here; use this server's own pages", origin)
}

// hostPolicy decides which Host headers the server answers.
type hostPolicy struct {
	// names are the extra host names (-allowed-hosts), lower case, without
	// a trailing dot.
	names []string
}

func newHostPolicy(names []string) hostPolicy {
	p := hostPolicy{}
	for _, n := range names {
		if n = canonicalHost(n); n != "" {
			p.names = append(p.names, n)
		}
	}
	return p
}

// canonicalHost is a host name without its port, in lower case, without a
// trailing dot and without the brackets of an IPv6 literal.
func canonicalHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// allows reports whether a request naming hostport is answered: IP
// literals (they cannot be rebound), localhost and its subdomains (which
// browsers resolve to loopback themselves), and the configured names.
func (p hostPolicy) allows(hostport string) bool {
	host := canonicalHost(hostport)
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, n := range p.names {
		if host == n {
			return true
		}
	}
	return false
}

// allowsOrigin reports whether a browser Origin header names an allowed
// host (its scheme is http or https).
func (p hostPolicy) allowsOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && p.allows(u.Host)
}

// checkHost answers 421 to a request whose Host is not allowed, before any
// route sees it, the event sockets included. Only the static files (public
// anyway: they are the page's CSS and scripts) are served under any name,
// so that the 421 page itself is readable.
func (s *Server) checkHost(next http.Handler) http.Handler {
	refuse := s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &misdirectedError{host: r.Host}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		static := (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasPrefix(r.URL.Path, "/static/")
		if !static && !s.hosts.allows(r.Host) {
			refuse(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossOriginProtection refuses browser requests from other sites' pages
// that change anything: every method but GET, HEAD and OPTIONS, on every
// route, those added later included. A program (no Origin, no
// Sec-Fetch-Site) is not a browser page and is let through.
func (s *Server) crossOriginProtection() *http.CrossOriginProtection {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &crossOriginError{origin: r.Header.Get("Origin")}
	}))
	return cop
}

// sameSiteOnly applies cross-origin protection to a GET that starts work
// (GET /api/compare runs a whole comparison): another site's page may not
// start it with an <img> or a link.
func (s *Server) sameSiteOnly(cop *http.CrossOriginProtection) func(http.Handler) http.Handler {
	deny := s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &crossOriginError{origin: r.Header.Get("Origin")}
	})
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asWrite := r.Clone(r.Context())
			asWrite.Method = http.MethodPost
			if err := cop.Check(asWrite); err != nil {
				deny(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
