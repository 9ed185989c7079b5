package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"interleave/runs"
	"interleave/scenarios"
	"interleave/web"
)

// handlerFunc is a handler that returns its error; handle maps it to a status.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// badRequestError is the user's mistake in a request (not in a param).
type badRequestError struct{ msg string }

func (e *badRequestError) Error() string { return e.msg }

// statusError is an error that knows its HTTP status and says, in its
// message, what the user can do (the store cannot write, too many imports,
// a damaged recording). retryAfter is zero when waiting does not help.
type statusError interface {
	error
	httpStatus() int
	retryAfter() time.Duration
}

// handle adapts a handlerFunc: typed errors become statuses with a clear
// message (JSON under /api/, a page elsewhere); anything else is our
// failure, logged and answered 500.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		status, msg := s.classify(err)
		if status == http.StatusInternalServerError {
			s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		if wait := retryAfter(err); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
		}
		var ma *methodNotAllowedError
		if errors.As(err, &ma) {
			for _, m := range ma.allowed {
				w.Header().Add("Allow", m)
			}
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeJSON(w, status, map[string]string{"error": msg})
			return
		}
		s.render(w, r, status, web.ErrorPage(web.ErrorView{Status: status, Title: http.StatusText(status), Message: msg}))
	}
}

// classify maps an error to a status and the message the user sees.
func (s *Server) classify(err error) (int, string) {
	var (
		pe *scenarios.ParamError
		nf *runs.NotFoundError
		qf *runs.QueueFullError
		eu *runs.EngineUnavailableError
		br *badRequestError
		mb *http.MaxBytesError
		se statusError
		mt *unsupportedMediaTypeError
		md *misdirectedError
		co *crossOriginError
		ma *methodNotAllowedError
	)
	switch {
	case errors.As(err, &md):
		return http.StatusMisdirectedRequest, md.Error()
	case errors.As(err, &co):
		return http.StatusForbidden, co.Error()
	case errors.As(err, &mt):
		return http.StatusUnsupportedMediaType, mt.Error()
	case errors.As(err, &ma):
		return http.StatusMethodNotAllowed, ma.Error()
	case errors.As(err, &pe):
		return http.StatusBadRequest, pe.Error()
	case errors.As(err, &br):
		return http.StatusBadRequest, br.Error()
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body: more than %d bytes", mb.Limit)
	case errors.As(err, &nf):
		return http.StatusNotFound, nf.Error()
	case errors.As(err, &qf):
		return http.StatusTooManyRequests, qf.Error()
	case errors.As(err, &eu):
		return http.StatusServiceUnavailable, eu.Error()
	case errors.As(err, &se):
		return se.httpStatus(), se.Error()
	}
	if status, ok := runsErrorStatus(err); ok {
		return status, err.Error()
	}
	return http.StatusInternalServerError, "something went wrong on our side; it has been logged"
}

// runsErrorStatus maps the run manager's refusals to their HTTP status.
func runsErrorStatus(err error) (int, bool) {
	var (
		su *runs.StoreUnavailableError
		ru *runs.RunnerUnavailableError
		sf *runs.StepRunsFullError
		bz *runs.BusyError
		cf *runs.ConflictError
		dm *runs.DamagedError
	)
	switch {
	case errors.As(err, &su), errors.As(err, &ru):
		return http.StatusServiceUnavailable, true
	case errors.As(err, &sf), errors.As(err, &bz):
		return http.StatusTooManyRequests, true
	case errors.As(err, &cf):
		return http.StatusConflict, true
	case errors.As(err, &dm):
		return http.StatusInternalServerError, true
	}
	return 0, false
}

// retryAfter is how long the client refused with err is told to wait
// (Retry-After), or 0 when waiting does not help.
func retryAfter(err error) time.Duration {
	var (
		qf *runs.QueueFullError
		bz *runs.BusyError
		su *runs.StoreUnavailableError
		se statusError
	)
	switch {
	case errors.As(err, &qf):
		return qf.RetryAfter
	case errors.As(err, &bz):
		return bz.RetryAfter
	case errors.As(err, &su):
		return su.RetryAfter()
	case errors.As(err, &se):
		return se.retryAfter()
	}
	return 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// securityHeaders keeps pages same-origin: no inline scripts, no framing.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// methodNotAllowedError is a known path asked with a method it does not
// take: 405, with the methods it does take (also in Allow headers).
type methodNotAllowedError struct {
	method, path string
	allowed      []string
}

func (e *methodNotAllowedError) Error() string {
	return fmt.Sprintf("method: %s is not allowed on %s; want %s", scenarios.FieldName(e.method), scenarios.FieldName(e.path), strings.Join(e.allowed, ", "))
}
