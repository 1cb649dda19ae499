// Command kguard-etcd runs a single-member etcd server (go.etcd.io/etcd/server/v3/embed) for tests.
//
// It serves plain HTTP on the given loopback client and peer URLs, prints "ready" once etcd accepts
// requests, and shuts down cleanly on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func mustParseURL(raw string) url.URL {
	parsed, err := url.Parse(raw)
	if err != nil {
		log.Fatalf("invalid URL %q: %v", raw, err)
	}
	return *parsed
}

func main() {
	dataDir := flag.String("data-dir", "", "directory for etcd data (required)")
	clientURL := flag.String("listen-client-url", "http://127.0.0.1:2379", "client URL to listen on")
	peerURL := flag.String("listen-peer-url", "http://127.0.0.1:2380", "peer URL to listen on")
	logLevel := flag.String("log-level", "warn", "etcd log level")
	flag.Parse()
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "kguard-etcd: --data-dir is required")
		os.Exit(2)
	}

	cfg := embed.NewConfig()
	cfg.Name = "kguard-test"
	cfg.Dir = *dataDir
	cfg.LogLevel = *logLevel
	client := mustParseURL(*clientURL)
	peer := mustParseURL(*peerURL)
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)

	server, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("kguard-etcd: start: %v", err)
	}
	defer server.Close()

	select {
	case <-server.Server.ReadyNotify():
		fmt.Println("ready")
	case <-time.After(60 * time.Second):
		server.Server.Stop()
		log.Fatal("kguard-etcd: not ready after 60s")
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-signals:
		log.Printf("kguard-etcd: %v, stopping", sig)
	case err := <-server.Err():
		log.Fatalf("kguard-etcd: %v", err)
	}
}
