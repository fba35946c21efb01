package fingerprint

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"os"
	"sync"
)

// StockPath is where Debian's p0f package installs its database.
const StockPath = "/etc/p0f/p0f.fp"

// winKind says how a signature's window field is compared.
type winKind uint8

const (
	winValue winKind = iota // a literal window size
	winAny                  // "*"
	winMod                  // "%N": a multiple of N
	winMSS                  // "mss*N"
	winMTU                  // "mtu*N"
)

// layoutKey is an option layout used as a map key: the count, then the kinds.
type layoutKey [MaxOptions + 1]byte

func makeKey(opts []uint8) layoutKey {
	var k layoutKey
	k[0] = uint8(len(opts))
	copy(k[1:], opts)
	return k
}

// signature is one "sig" line of a [tcp:request] (or [tcp:response]) section
// with its label.
type signature struct {
	ver     int8 // 4, 6, or -1 for any
	ttl     uint8
	badTTL  bool // "64-": the TTL is randomised, so only an upper bound
	olen    uint8
	mss     int32 // -1 for any
	win     uint16
	winKind winKind
	wscale  int16 // -1 for any
	pclass  int8  // -1 for any, 0 for none, 1 for payload
	eolPad  uint8
	quirks  Quirks
	layout  layoutKey

	generic bool
	tool    bool   // class "!": an application such as a scanner, not an OS
	label   string // name and flavor, as p0f prints them
	class   string // normalised OS family
	source  string // "file:line"
}

// DB is a set of SYN signatures in file order. It is immutable once built
// and safe for concurrent use.
type DB struct {
	sigs  []signature
	index map[layoutKey][]int32 // positions in sigs by layout, in order
}

// Len is the number of SYN ([tcp:request]) signatures.
func (db *DB) Len() int { return len(db.sigs) }

func (db *DB) add(s signature) {
	if db.index == nil {
		db.index = make(map[layoutKey][]int32)
	}
	db.index[s.layout] = append(db.index[s.layout], int32(len(db.sigs)))
	db.sigs = append(db.sigs, s)
}

// Merge returns a database holding the signatures of dbs in order: all of
// the first database's, then the second's, and so on. Since a specific
// match wins wherever it appears, order matters only among signatures of
// the same kind (specific, generic, fuzzy): the earlier one wins.
func Merge(dbs ...*DB) *DB {
	out := &DB{}
	for _, db := range dbs {
		if db == nil {
			continue
		}
		for _, s := range db.sigs {
			out.add(s)
		}
	}
	return out
}

// SyntaxError is a malformed database line.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Warning is a problem that does not stop a database from loading: a
// signature that an earlier one already covers (p0f refuses to start on
// those; we keep the later signature, which can then only match what the
// earlier one does not).
type Warning struct {
	File string
	Line int
	Msg  string
}

func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg) }

// Parse reads a database in p0f v3 format; name is used in messages. Only
// [tcp:request] signatures are kept; the other sections are checked and
// skipped.
func Parse(r io.Reader, name string) (*DB, []Warning, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	p := newParser(name)
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		p.line++
		if err := p.parseLine(string(bytes.Trim(line, " \t\r"))); err != nil {
			return nil, nil, err
		}
	}
	return p.req, p.warnings, nil
}

// LoadFile reads a database file.
func LoadFile(path string) (*DB, []Warning, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

//go:embed builtin.fp
var builtinText []byte

var builtinDB = sync.OnceValue(func() *DB {
	db, warns, err := Parse(bytes.NewReader(builtinText), "builtin.fp")
	if err != nil {
		panic("fingerprint: built-in database: " + err.Error())
	}
	if len(warns) > 0 {
		panic("fingerprint: built-in database: " + warns[0].String())
	}
	return db
})

// Builtin returns the package's own database of signatures for current
// systems and common scanners (builtin.fp in this directory).
func Builtin() *DB { return builtinDB() }
