package main

import (
	"log/slog"
	"strings"
	"testing"
)

// TestReadTestOnly: every test-only feature is off when its variable is unset, on for the
// value that asks for it, and a value it does not know is an error naming the variable.
func TestReadTestOnly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    testOnlySettings
		wantErr string // a part of the error; "" for none
	}{
		{"unset", nil, testOnlySettings{}, ""},
		{"the HTTPPool", map[string]string{"TESTONLY_TRANSPORT": "httppool"}, testOnlySettings{httpPool: true}, ""},
		{"an unknown transport", map[string]string{"TESTONLY_TRANSPORT": "carrier-pigeon"}, testOnlySettings{}, "TESTONLY_TRANSPORT"},
		{"grpc by name", map[string]string{"TESTONLY_TRANSPORT": "grpc"}, testOnlySettings{}, "TESTONLY_TRANSPORT"},
		{"the ring history", map[string]string{"TESTONLY_RING_HISTORY": "on"}, testOnlySettings{ringHistory: true}, ""},
		{"the ring history off", map[string]string{"TESTONLY_RING_HISTORY": "off"}, testOnlySettings{}, ""},
		{"the ring history, yes", map[string]string{"TESTONLY_RING_HISTORY": "yes"}, testOnlySettings{}, "TESTONLY_RING_HISTORY"},
		{"the exit state", map[string]string{"TESTONLY_EXIT_STATE": "/run/exit.json"}, testOnlySettings{exitState: "/run/exit.json"}, ""},
		{"the CPU profile", map[string]string{"TESTONLY_CPU_PROFILE": "/run/profiles"}, testOnlySettings{cpuProfile: "/run/profiles"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"TESTONLY_TRANSPORT", "TESTONLY_RING_HISTORY", "TESTONLY_EXIT_STATE", "TESTONLY_CPU_PROFILE"} {
				t.Setenv(name, tc.env[name])
			}
			got, err := readTestOnly()
			switch {
			case tc.wantErr == "" && (err != nil || got != tc.want):
				t.Errorf("readTestOnly = %+v, %v; want %+v", got, err, tc.want)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("readTestOnly = %+v, %v; want an error naming %s", got, err, tc.wantErr)
			}
		})
	}
}

// TestRunRejectsBadTestOnlySettings: the example refuses to start with a test-only value it
// does not know, before it connects to the API server.
func TestRunRejectsBadTestOnlySettings(t *testing.T) {
	for k, v := range map[string]string{"POD_IP": "127.0.0.1", "NAMESPACE": "demo", "SERVICE_NAME": "demo",
		"TESTONLY_TRANSPORT": "carrier-pigeon"} {
		t.Setenv(k, v)
	}
	if err := run(slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "TESTONLY_TRANSPORT") {
		t.Errorf("run with TESTONLY_TRANSPORT=carrier-pigeon = %v; want an error naming it", err)
	}
}
