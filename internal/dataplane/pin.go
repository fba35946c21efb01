package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// DefaultPinRoot is where sensors pin their objects, one directory per interface.
const DefaultPinRoot = "/sys/fs/bpf/mxsensor"

// ErrNotRunning says no sensor has pinned objects where we looked.
var ErrNotRunning = errors.New("no sensor running")

// Names of the pinned objects inside a sensor's directory.
const (
	pinCounters = "counters"
	pinEvents   = "events"
	pinInfo     = "info"
	pinRate     = "ratelimit"
	pinLink     = "link"
)

// EnsureBPFFS makes sure dir lies on a BPF filesystem, mounting one at
// /sys/fs/bpf when dir is below it and nothing is mounted there (this needs
// CAP_SYS_ADMIN; systemd normally mounts it at boot).
func EnsureBPFFS(dir string) error {
	if onBPFFS(dir) {
		return os.MkdirAll(dir, 0o700)
	}
	const std = "/sys/fs/bpf"
	if !strings.HasPrefix(filepath.Clean(dir)+"/", std+"/") {
		return fmt.Errorf("%s is not on a BPF filesystem: mount one (mount -t bpf bpf DIR) or choose a pin directory under /sys/fs/bpf", dir)
	}
	if !onBPFFS(std) {
		if err := unix.Mount("bpf", std, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mounting bpffs at %s (needs CAP_SYS_ADMIN, or mount it yourself: mount -t bpf bpf %s): %w", std, std, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating pin directory: %w", err)
	}
	return nil
}

// onBPFFS reports whether path, or its closest existing ancestor, is on bpffs.
func onBPFFS(path string) bool {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err == nil {
			return st.Type == unix.BPF_FS_MAGIC
		}
		if p == "/" {
			return false
		}
	}
}

// Info describes a running sensor; the agent stores it in the pinned info map.
type Info struct {
	Start      time.Time
	RingSize   uint64
	Ifindex    uint32
	Ifname     string
	PID        uint32
	AttachMode AttachMode
	Mode       Mode
}

// WriteInfo stores info in the program's info map.
func (o *Objects) WriteInfo(info Info) error {
	var k mxsensorMxsInfo
	k.StartUnixNs = uint64(info.Start.UnixNano())
	k.RingSize = info.RingSize
	k.Ifindex = info.Ifindex
	k.Pid = info.PID
	k.AttachMode = uint8(info.AttachMode)
	k.Mode = uint8(info.Mode)
	for i := 0; i < len(info.Ifname) && i < len(k.Ifname)-1; i++ {
		k.Ifname[i] = int8(info.Ifname[i])
	}
	if err := o.objs.Info.Put(uint32(0), &k); err != nil {
		return fmt.Errorf("writing sensor info: %w", err)
	}
	return nil
}

func readInfo(m *ebpf.Map) (Info, error) {
	var k mxsensorMxsInfo
	if err := m.Lookup(uint32(0), &k); err != nil {
		return Info{}, fmt.Errorf("reading sensor info: %w", err)
	}
	var name []byte
	for _, c := range k.Ifname {
		if c == 0 {
			break
		}
		name = append(name, byte(c))
	}
	return Info{Start: time.Unix(0, int64(k.StartUnixNs)), RingSize: k.RingSize, Ifindex: k.Ifindex,
		Ifname: string(name), PID: k.Pid, AttachMode: AttachMode(k.AttachMode), Mode: Mode(k.Mode)}, nil
}

// Pin pins the maps into dir (which must exist on bpffs).
func (o *Objects) Pin(dir string) error {
	for name, m := range map[string]*ebpf.Map{pinCounters: o.objs.Counters, pinEvents: o.objs.Events,
		pinInfo: o.objs.Info, pinRate: o.objs.Ratelimit} {
		if err := m.Pin(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("pinning map %s in %s: %w", name, dir, err)
		}
	}
	return nil
}

// Unpin removes the maps' pins.
func (o *Objects) Unpin() error {
	var errs []error
	for _, m := range []*ebpf.Map{o.objs.Counters, o.objs.Events, o.objs.Info, o.objs.Ratelimit} {
		if err := m.Unpin(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LinkPinPath is where the XDP link of the sensor in dir is pinned.
func LinkPinPath(dir string) string { return filepath.Join(dir, pinLink) }

// Pinned is a view of a running sensor through its pinned objects. It never
// consumes ring records.
type Pinned struct {
	Dir      string
	Info     Info
	counters *ebpf.Map
	events   *ebpf.Map
}

// OpenPinned opens the sensor pinned in dir; the error wraps ErrNotRunning
// when nothing is pinned there.
func OpenPinned(dir string) (*Pinned, error) {
	if _, err := os.Stat(filepath.Join(dir, pinInfo)); err != nil {
		return nil, fmt.Errorf("%w: nothing pinned in %s", ErrNotRunning, dir)
	}
	p := &Pinned{Dir: dir}
	var err error
	ro := &ebpf.LoadPinOptions{ReadOnly: true}
	info, err := ebpf.LoadPinnedMap(filepath.Join(dir, pinInfo), ro)
	if err != nil {
		return nil, fmt.Errorf("opening pinned info map: %w", explainPerm(err))
	}
	defer info.Close()
	if p.Info, err = readInfo(info); err != nil {
		return nil, err
	}
	if p.counters, err = ebpf.LoadPinnedMap(filepath.Join(dir, pinCounters), ro); err != nil {
		return nil, fmt.Errorf("opening pinned counters: %w", explainPerm(err))
	}
	// The ring is opened read-write because the ring reader maps the consumer
	// position; Pending only reads it.
	if p.events, err = ebpf.LoadPinnedMap(filepath.Join(dir, pinEvents), nil); err != nil {
		p.counters.Close()
		return nil, fmt.Errorf("opening pinned ring: %w", explainPerm(err))
	}
	return p, nil
}

// Counters reads the counters, total and per CPU.
func (p *Pinned) Counters() (Counters, []Counters, error) { return ReadCounters(p.counters) }

// RingPending returns the ring's data size and the bytes written but not yet
// consumed, without consuming anything.
func (p *Pinned) RingPending() (size, pending int, err error) {
	rd, err := NewRingReader(p.events)
	if err != nil {
		return 0, 0, err
	}
	defer rd.Close()
	return rd.Size(), rd.Pending(), nil
}

// Ring returns a reader of the pinned ring: a new agent drains what a dead
// one left in it before taking over.
func (p *Pinned) Ring() (*RingReader, error) { return NewRingReader(p.events) }

// AgentAlive reports whether the agent process that pinned the sensor still runs.
func (p *Pinned) AgentAlive() bool { return processAlive(int(p.Info.PID), p.Info.Start) }

// Close releases the maps (the pins stay).
func (p *Pinned) Close() error {
	return errors.Join(p.counters.Close(), p.events.Close())
}

// pidReuseSlack is how much later than the sensor's recorded start its
// process may seem to have started: the two clocks differ by /proc/stat's
// whole-second boot time and by any step of the wall clock since. A pid
// reused that soon is not caught; calling a live sensor dead would be worse.
const pidReuseSlack = time.Minute

// processAlive reports whether the agent with pid, which recorded start as
// its start time (zero: unknown), still runs. kill(pid, 0) alone also finds
// a zombie (exited, not yet reaped by its parent) and a later process that
// got the same pid; /proc/PID/stat tells them apart.
func processAlive(pid int, start time.Time) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	state, started, err := procStat(pid)
	if err != nil {
		// Gone since kill, unless there is no /proc to ask: then kill's word stands.
		_, serr := os.Stat("/proc/self/stat")
		return !errors.Is(err, os.ErrNotExist) || serr != nil
	}
	if state == 'Z' || state == 'X' {
		return false
	}
	if start.UnixNano() > 0 && !started.IsZero() && started.After(start.Add(pidReuseSlack)) {
		return false
	}
	return true
}

// userHZ is the unit of /proc/PID/stat's start time: USER_HZ, 100 on every
// architecture Go's linux ports run on.
const userHZ = 100

// procStat returns pid's state letter (R, S, Z, ...) and start time (zero
// when the boot time is unknown) from /proc/PID/stat.
func procStat(pid int) (byte, time.Time, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, time.Time{}, err
	}
	// "pid (comm) state ...": comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, time.Time{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, time.Time{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state), f[19] field 22 (starttime, ticks after boot).
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	boot, berr := bootTime()
	if err != nil || berr != nil {
		return f[0][0], time.Time{}, nil
	}
	return f[0][0], boot.Add(time.Duration(ticks) * (time.Second / userHZ)), nil
}

// bootTime reads the boot time (whole seconds) from /proc/stat.
func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("/proc/stat btime: %w", err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, errors.New("/proc/stat: no btime")
}

// ListPinned returns the sensor directories under root, sorted.
func ListPinned(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing %s: %w", root, err)
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(root, e.Name(), pinInfo)); err == nil {
				dirs = append(dirs, filepath.Join(root, e.Name()))
			}
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// RemovePinned removes a sensor's pins from dir: unpinning its link detaches
// the program (unless a live agent still holds the link). It refuses while
// the agent that made them is alive.
func RemovePinned(dir string) error {
	if p, err := OpenPinned(dir); err == nil {
		alive, pid := p.AgentAlive(), p.Info.PID
		p.Close()
		if alive && int(pid) != os.Getpid() {
			return fmt.Errorf("sensor in %s is still running (pid %d): stop it first", dir, pid)
		}
	}
	var errs []error
	if l, err := link.LoadPinnedLink(LinkPinPath(dir), nil); err == nil {
		if err := l.Unpin(); err != nil {
			errs = append(errs, err)
		}
		l.Close()
	}
	for _, n := range []string{pinCounters, pinEvents, pinInfo, pinRate, pinLink} {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
