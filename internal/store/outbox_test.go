package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func enqueue(t *testing.T, s *Store, kind string, i int, size int) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"i":%03d,"pad":"%s"}`, i, strings.Repeat("x", size)))
	if err := s.Enqueue(kind, "mxsensor.v1.s1."+kind, fmt.Sprintf("s1.%s.%03d", kind, i), body); err != nil {
		t.Fatal(err)
	}
}

// TestOutbox: messages are read in order, deleted once acknowledged, a
// message enqueued twice is held once, and a reopened store knows what
// the outbox holds.
func TestOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	s, err := Open(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		enqueue(t, s, "attempts", i, 10)
	}
	enqueue(t, s, "attempts", 0, 10) // the same msg id again
	if st := s.OutboxStats(); st.Queued != 6 || st.Rows != 0 {
		t.Errorf("before the commit: %+v", st)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	st := s.OutboxStats()
	if st.Rows != 5 || st.Queued != 0 || st.Bytes <= 0 {
		t.Fatalf("after the commit: %+v", st)
	}
	msgs, err := s.ReadOutbox(0, 3, nil)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	for i, m := range msgs {
		if m.MsgID != fmt.Sprintf("s1.attempts.%03d", i) || m.Kind != "attempts" || m.Subject != "mxsensor.v1.s1.attempts" || !strings.HasPrefix(string(m.Body), fmt.Sprintf(`{"i":%03d,`, i)) {
			t.Errorf("message %d: %+v", i, m)
		}
	}
	more, _ := s.ReadOutbox(msgs[2].Seq, 10, nil)
	if len(more) != 2 {
		t.Errorf("after seq %d: %d messages", msgs[2].Seq, len(more))
	}
	if err := s.DeleteOutbox([]int64{msgs[0].Seq, msgs[1].Seq, msgs[1].Seq + 1000}); err != nil {
		t.Fatal(err)
	}
	st2 := s.OutboxStats()
	if st2.Rows != 3 || st2.Bytes >= st.Bytes {
		t.Errorf("after deleting two: %+v", st2)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.OutboxStats(); got.Rows != st2.Rows || got.Bytes != st2.Bytes {
		t.Errorf("reopened: %+v, want %+v", got, st2)
	}
}

// TestOutboxBound: past its bound the outbox gives up SYN events first,
// oldest first; attempts are kept while SYN events make room, and past
// that dropped and counted, never silently.
func TestOutboxBound(t *testing.T) {
	cfg := DefaultConfig()
	// 20 attempts of 204 bytes; a SYN event takes 196.
	attempt := outboxCost("mxsensor.v1.s1.attempts", "s1.attempts.000", len(`{"i":000,"pad":""}`)+100)
	cfg.Outbox = OutboxConfig{MaxBytes: 20 * attempt, DropFirst: []string{"syns", "status"}}
	s, err := Open(filepath.Join(t.TempDir(), "o.db"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 15; i++ {
		enqueue(t, s, "syns", i, 100)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		enqueue(t, s, "syns", 100+i, 100) // 5 fit, 5 do not
	}
	for i := 0; i < 15; i++ {
		enqueue(t, s, "attempts", i, 100) // fit by evicting SYNs
		if i%4 == 0 {
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	st := s.OutboxStats()
	if st.Bytes > cfg.Outbox.MaxBytes {
		t.Errorf("%d bytes, past the bound of %d", st.Bytes, cfg.Outbox.MaxBytes)
	}
	if st.Dropped["attempts"] != 0 || st.Dropped["syns"] != 20 || st.Rows != 20 || st.Queued != 0 {
		t.Errorf("after the attempts: %+v", st)
	}
	msgs, _ := s.ReadOutbox(0, 100, nil)
	kinds := map[string]int{}
	for _, m := range msgs {
		kinds[m.Kind]++
	}
	if kinds["attempts"] != 15 || kinds["syns"] != 5 {
		t.Errorf("outbox holds %v", kinds)
	}
	// The latest SYN events are the ones kept.
	for _, m := range msgs {
		if m.Kind == "syns" && !strings.HasPrefix(m.MsgID, "s1.syns.10") {
			t.Errorf("kept %s", m.MsgID)
		}
	}
	// No SYN left to give up: attempts past the bound are dropped, counted.
	for i := 100; i < 110; i++ {
		enqueue(t, s, "attempts", i, 100)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	st = s.OutboxStats()
	if st.Bytes > cfg.Outbox.MaxBytes || st.Dropped["attempts"] != 5 || st.Rows != 20 {
		t.Errorf("past the bound: %+v", st)
	}
}
