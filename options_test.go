package k8s

// Tests of the options: credentials of both sides, the hand-off's settings, the
// default logger, and what WatchPeers refuses.

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// nopRegistrar stands for the user's own grpc.Server.
type nopRegistrar struct{}

// RegisterService does nothing.
func (nopRegistrar) RegisterService(*grpc.ServiceDesc, any) {}

// TestTransportCredentials checks which combinations of credential options are
// accepted and which side ends up insecure.
func TestTransportCredentials(t *testing.T) {
	creds := credentials.NewTLS(nil)
	tests := []struct {
		name       string
		opts       []Option
		wantErr    string // part of the error; empty: no error
		wantServer bool   // server credentials returned (else insecure)
		wantClient bool   // client credentials returned (else insecure)
	}{
		{"no option: insecure", nil, "", false, false},
		{"both sides", []Option{WithTransportCredentials(creds, creds)}, "", true, true},
		{"server side only", []Option{WithTransportCredentials(creds, nil)}, "without client credentials", false, false},
		{"client side only", []Option{WithTransportCredentials(nil, creds)}, "without server credentials", false, false},
		{"neither side given", []Option{WithTransportCredentials(nil, nil)}, "no credentials", false, false},
		{"own server, client only", []Option{WithGRPCServer(nopRegistrar{}), WithTransportCredentials(nil, creds)}, "", false, true},
		{"own server, both sides", []Option{WithGRPCServer(nopRegistrar{}), WithTransportCredentials(creds, creds)}, "WithGRPCServer", false, false},
		{"own server, no option: insecure", []Option{WithGRPCServer(nopRegistrar{})}, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tt.opts...)
			server, client, err := cfg.transportCredentials()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("transportCredentials: %v, want an error containing %q", err, tt.wantErr)
				}
				if _, err := cfg.clientDialOptions(); err == nil {
					t.Error("clientDialOptions: no error, want the credentials error")
				}
				if _, err := cfg.serverOptionList(); err == nil {
					t.Error("serverOptionList: no error, want the credentials error")
				}
				return
			}
			if err != nil {
				t.Fatalf("transportCredentials: %v", err)
			}
			if (server != nil) != tt.wantServer || (client != nil) != tt.wantClient {
				t.Errorf("got server credentials %v, client credentials %v; want %v, %v",
					server != nil, client != nil, tt.wantServer, tt.wantClient)
			}
		})
	}
}

// TestHandoffSettings checks what WithHandoff leaves in the config: the defaults for zero
// durations, the hand-off off, and the errors for negative durations and for a Handoff
// that is Off but sets durations, which name the fields set.
func TestHandoffSettings(t *testing.T) {
	on := Handoff{Window: defaultHandoffWindow, PeekTimeout: defaultPeekTimeout, Drain: defaultDrain}
	tests := []struct {
		name    string
		opts    []Option
		want    Handoff
		wantErr string // part of the error; empty: no error
	}{
		{"no option: on with the defaults", nil, on, ""},
		{"zero Handoff: the defaults", []Option{WithHandoff(Handoff{})}, on, ""},
		{"one field set", []Option{WithHandoff(Handoff{Drain: time.Second})},
			Handoff{Window: defaultHandoffWindow, PeekTimeout: defaultPeekTimeout, Drain: time.Second}, ""},
		{"off", []Option{WithHandoff(Handoff{Off: true})}, Handoff{Off: true}, ""},
		{"negative window", []Option{WithHandoff(Handoff{Window: -time.Second})}, Handoff{}, "must not be negative"},
		{"off with a drain", []Option{WithHandoff(Handoff{Off: true, Drain: time.Second})}, Handoff{},
			"Handoff is Off but sets Drain, which"},
		{"off with every duration", []Option{WithHandoff(Handoff{Off: true, Window: time.Minute,
			PeekTimeout: time.Millisecond, Drain: -time.Second})}, Handoff{},
			"Handoff is Off but sets Window, PeekTimeout, Drain, which"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tt.opts...)
			err := cfg.validateTransport()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validateTransport: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validateTransport: %v", err)
			}
			if cfg.handoff != tt.want {
				t.Errorf("hand-off settings %+v, want %+v", cfg.handoff, tt.want)
			}
		})
	}
}

// TestDefaultLogger: a manager without WithLogger logs through slog.Default(), so that
// its warnings are seen; WithLogger replaces it, and WithLogger(nil) discards. The
// manager warns because its Service has only IPv6 endpoints and its own address is IPv4.
func TestDefaultLogger(t *testing.T) {
	leakcheck.Check(t)
	const warning = "this pod's address is IPv4"
	tests := []struct {
		name        string
		logger      func(*syncBuffer) []Option // the options naming the logger, given its buffer
		wantDefault bool                       // the warning goes to slog.Default()
		wantOwn     bool                       // the warning goes to the logger given
	}{
		{"no WithLogger", func(*syncBuffer) []Option { return nil }, true, false},
		{"WithLogger", func(b *syncBuffer) []Option { return []Option{WithLogger(slog.New(slog.NewTextHandler(b, nil)))} }, false, true},
		{"WithLogger(nil)", func(*syncBuffer) []Option { return []Option{WithLogger(nil)} }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var defaultLogs, ownLogs syncBuffer
			previous := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(&defaultLogs, nil)))
			defer slog.SetDefault(previous)

			api := fakeapi.Start(t, testNamespace, fakeapi.Listing(10,
				apiSlice("v6", discoveryv1.AddressTypeIPv6, apiEndpoint("fd00::2", yes, no))))
			opts := append([]Option{WithGRPCServer(grpc.NewServer()), WithoutPeerPickerRegistration(), noHandoff},
				tt.logger(&ownLogs)...)
			m, err := NewPeersManager(t.Context(), api.Clientset(), testService, testNamespace, 8080, "10.0.0.1:8080", opts...)
			if err != nil {
				t.Fatal(err)
			}
			m.Close() // the first LIST, and its warning, came before NewPeersManager returned
			if got := strings.Contains(defaultLogs.String(), warning); got != tt.wantDefault {
				t.Errorf("warning in slog.Default()'s output: %v, want %v:\n%s", got, tt.wantDefault, defaultLogs.String())
			}
			if got := strings.Contains(ownLogs.String(), warning); got != tt.wantOwn {
				t.Errorf("warning in the given logger's output: %v, want %v:\n%s", got, tt.wantOwn, ownLogs.String())
			}
		})
	}
}
