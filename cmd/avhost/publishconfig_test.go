package main

import (
	"errors"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/whip"
)

// TestPublishAndHTTPKeysInTheConfigFile: the YAML names of the WHIP publish and HTTP
// limit settings, and a publish entry outside publish_allow stops avhost serve at start.
func TestPublishAndHTTPKeysInTheConfigFile(t *testing.T) {
	const file = `
publish_allow: [sfu.example, "10.0.0.5:8889"]
publish_retry: {min_backoff: 250ms, max_backoff: 5s, max_attempts: 4}
publish:
  demo: {url: "https://sfu.example/whip", token: key, max_attempts: 2}
http: {read_header_timeout: 2s, read_timeout: 8s, write_timeout: 20s, idle_timeout: 30s, max_header_bytes: 16384}
`
	var cfg server.Config
	if err := yaml.Unmarshal([]byte(file), &cfg); err != nil {
		t.Fatal(err)
	}
	want := whip.Config{URL: "https://sfu.example/whip", Token: "key", Retry: whip.Retry{MaxAttempts: 2}}
	if got := cfg.Publish["demo"]; got.URL != want.URL || got.Token != want.Token || got.Retry != want.Retry {
		t.Errorf("publish.demo = %+v, want %+v", got, want)
	}
	if r := cfg.PublishRetry; r != (whip.Retry{MinBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second, MaxAttempts: 4}) {
		t.Errorf("publish_retry = %+v", r)
	}
	if h := cfg.HTTP; h != (server.HTTPConfig{ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 8 * time.Second,
		WriteTimeout: 20 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16384}) {
		t.Errorf("http = %+v", h)
	}
	if len(cfg.PublishAllow) != 2 {
		t.Errorf("publish_allow = %q", cfg.PublishAllow)
	}

	cfg.Publish["demo"] = whip.Config{URL: "http://169.254.169.254/latest/meta-data/"}
	if _, err := server.New(cfg); !errors.Is(err, whip.ErrHost) {
		t.Fatalf("server.New with a publish target outside publish_allow: %v, want ErrPublishHost", err)
	}
}
