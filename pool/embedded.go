package pool

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Embedded is a NATS server with JetStream run inside the web node, for a
// small setup without a NATS cluster: runners connect to its address.
type Embedded struct {
	srv *natsserver.Server
}

// StartEmbedded starts a NATS server with JetStream listening on listen
// (host:port; port 0 picks one), its store under dataDir/nats.
func StartEmbedded(dataDir, listen string) (*Embedded, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("-nats-listen %q: want host:port, such as 0.0.0.0:4222", listen)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("-nats-listen %q: want a port from 0 to 65535", listen)
	}
	if p == 0 {
		p = natsserver.RANDOM_PORT
	}
	srv, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "interleave",
		Host:       host,
		Port:       p,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "nats"),
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start listening on %s within 10 s", listen)
	}
	return &Embedded{srv: srv}, nil
}

// URL is the address clients connect to.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits until it has.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
