package fakeapi

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// Stream is what the server answers: Lists answers the LIST requests in order, Watches
// the WATCH requests. A stream file (testdata/streams/NAME.txt, see Parse) is one
// written down; Listing is the one most tests need.
type Stream struct {
	Comment string // the text before the first section of a stream file
	Lists   []Answer
	Watches []Answer
	// OnHold, if set, is called when the server starts holding a watch open without
	// sending anything more (Hang, or Status 0): a replay advances its clock there, as
	// the idle timeout passes.
	OnHold func()
}

// Answer is the answer to one request.
type Answer struct {
	Status     int    // 0: send nothing, not even headers, and hold the request open
	RetryAfter string // the Retry-After header, if set
	Hang       bool   // after the frames, hold the watch open and silent until the client leaves
	FlushOnce  bool   // send every frame in one write; by default each is flushed on its own
	Frames     []string
	// Live, if set, carries frames sent while the watch is open, after Frames; closing
	// it ends the watch.
	Live chan string
}

// Listing is the stream of one LIST answering items at resourceVersion rv. Every
// WATCH after it is held open, silent, until the client leaves (see Server).
func Listing(rv int, items ...*discoveryv1.EndpointSlice) *Stream {
	return &Stream{Lists: []Answer{{Status: http.StatusOK, Frames: []string{ListFrame(rv, items...)}}}}
}

// WithLive adds a WATCH answer to s whose frames are those sent on live, and returns s.
func (s *Stream) WithLive(live chan string) *Stream {
	s.Watches = append(s.Watches, Answer{Status: http.StatusOK, Live: live})
	return s
}

// Load reads the stream file testdata/streams/NAME.txt of the test's package, failing t
// if it is missing or malformed.
func Load(t testing.TB, name string) *Stream {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "streams", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// Parse reads a stream file: what an API server sends. It starts with a comment, then
// has sections "-- list --" or "-- watch --", each answering the next LIST or WATCH
// request in order, one frame a line. Header words after the kind:
//
//	status=N        an error answer whose body is a Status (status=0 sends nothing, not even headers)
//	retry-after=N   the Retry-After header
//	end=hang        keep the watch open and silent until the client leaves
//	flush=once      send the whole watch in one write; by default each frame is flushed on its own
func Parse(data []byte) (*Stream, error) {
	s := &Stream{}
	var cur *Answer
	var kind string
	flush := func() {
		if cur == nil {
			return
		}
		if kind == "list" {
			s.Lists = append(s.Lists, *cur)
		} else {
			s.Watches = append(s.Watches, *cur)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") {
			flush()
			words := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(line, "-- "), " --"))
			if len(words) == 0 || words[0] != "list" && words[0] != "watch" {
				return nil, fmt.Errorf("unknown section %q", line)
			}
			kind, cur = words[0], &Answer{Status: http.StatusOK}
			for _, w := range words[1:] {
				k, v, _ := strings.Cut(w, "=")
				switch k {
				case "status":
					n, err := strconv.Atoi(v)
					if err != nil {
						return nil, fmt.Errorf("section %q: status %q is not a number", line, v)
					}
					cur.Status = n
				case "retry-after":
					cur.RetryAfter = v
				case "end":
					cur.Hang = v == "hang"
				case "flush":
					cur.FlushOnce = v == "once"
				default:
					return nil, fmt.Errorf("section %q: unknown header word %q", line, w)
				}
			}
			continue
		}
		if cur == nil {
			s.Comment += line + "\n"
		} else if line != "" {
			cur.Frames = append(cur.Frames, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	flush()
	return s, nil
}
