package main

import (
	"fmt"
	"log/slog"

	"interleave/pool"
)

// startPool connects the web node to its runner pool: to the NATS server at
// url, or, when url is "embedded", to one it starts itself listening on
// listen with its store under dataDir. stop closes the dispatcher, then the
// embedded server.
func startPool(url, listen, dataDir string, logger *slog.Logger) (d *pool.Dispatcher, stop func(), err error) {
	var embedded *pool.Embedded
	if url == "embedded" {
		if listen == "" {
			return nil, nil, fmt.Errorf("-nats embedded needs -nats-listen, the address runners reach it at (e.g. 0.0.0.0:4222)")
		}
		if embedded, err = pool.StartEmbedded(dataDir, listen); err != nil {
			return nil, nil, err
		}
		url = embedded.URL()
		logger.Info("pool: embedded NATS server listening", "url", url, "listen", listen)
	} else if listen != "" {
		return nil, nil, fmt.Errorf("-nats-listen %s: only with -nats embedded (with -nats %s the NATS server is elsewhere)", listen, url)
	}
	d, err = pool.NewDispatcher(pool.DispatcherConfig{URL: url, Logger: logger})
	if err != nil {
		if embedded != nil {
			embedded.Shutdown()
		}
		return nil, nil, err
	}
	return d, func() {
		d.Close()
		if embedded != nil {
			embedded.Shutdown()
		}
	}, nil
}
