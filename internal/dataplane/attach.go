package dataplane

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// AttachMode is how the program is attached to the interface.
type AttachMode uint8

// Attach modes; the values are stored in the pinned info map.
const (
	AttachAuto    AttachMode = 0 // native, falling back to generic
	AttachNative  AttachMode = 1 // driver mode
	AttachGeneric AttachMode = 2 // SKB mode
)

func (m AttachMode) String() string {
	switch m {
	case AttachAuto:
		return "auto"
	case AttachNative:
		return "native"
	case AttachGeneric:
		return "generic"
	}
	return fmt.Sprintf("attach(%d)", uint8(m))
}

// ParseAttachMode parses "auto", "native" (or "driver") and "generic" (or "skb").
func ParseAttachMode(s string) (AttachMode, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return AttachAuto, nil
	case "native", "driver", "drv":
		return AttachNative, nil
	case "generic", "skb":
		return AttachGeneric, nil
	}
	return 0, fmt.Errorf("unknown XDP mode %q (want native, generic or auto)", s)
}

// Attachment is the program attached to an interface.
type Attachment struct {
	Mode    AttachMode // the mode in effect (never AttachAuto)
	Ifindex int
	Ifname  string
	link    link.Link // nil when attached through netlink (kernels without XDP bpf_link)
	nlFlags int
}

// Attach attaches prog to the interface ifname. In auto mode it tries native
// (driver) mode first and falls back to generic mode with a warning. It uses a
// bpf_link where the kernel has one (5.9+) and netlink otherwise.
func Attach(prog *ebpf.Program, ifname string, mode AttachMode, log *zap.Logger) (*Attachment, error) {
	nl, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("looking up interface %q: %w", ifname, err)
	}
	a := &Attachment{Ifindex: nl.Attrs().Index, Ifname: ifname}
	try := []AttachMode{mode}
	if mode == AttachAuto {
		try = []AttachMode{AttachNative, AttachGeneric}
	}
	var errs []error
	for i, m := range try {
		err := a.attach(prog, m)
		if err == nil {
			a.Mode = m
			if i > 0 {
				log.Warn("native XDP attach failed; running in generic (SKB) mode, which is slower",
					zap.String("iface", ifname), zap.Error(errs[0]))
			}
			if m == AttachNative && nl.Type() == "veth" {
				// The program cannot see whether XDP_TX delivered.
				log.Warn("native XDP on a veth: the RSTs sent with XDP_TX reach the peer only if the peer has an XDP program attached (one that passes everything will do); otherwise the kernel drops them, rst_sent still counts them, and this veth counts them as TX drops (ip -s link)",
					zap.String("iface", ifname))
			}
			return a, nil
		}
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			if att, id, _ := XDPAttached(ifname); att {
				return nil, fmt.Errorf("attaching XDP program to %s: another XDP program (id %d) is already attached; remove it (ip link set dev %s xdp off) or, if it is a sensor killed earlier, run `mxsensor detach --iface %s`: %w", ifname, id, ifname, ifname, err)
			}
		}
		errs = append(errs, fmt.Errorf("%s mode: %w", m, explainPerm(err)))
	}
	return nil, fmt.Errorf("attaching XDP program to %s: %w", ifname, errors.Join(errs...))
}

func (a *Attachment) attach(prog *ebpf.Program, m AttachMode) error {
	flags := link.XDPDriverMode
	nlFlags := 1 << 2 // XDP_FLAGS_DRV_MODE
	if m == AttachGeneric {
		flags = link.XDPGenericMode
		nlFlags = 1 << 1 // XDP_FLAGS_SKB_MODE
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: a.Ifindex, Flags: flags})
	if err == nil {
		a.link = l
		return nil
	}
	if !errors.Is(err, link.ErrNotSupported) {
		return err
	}
	// No XDP bpf_link in this kernel: attach the old way. XDP_FLAGS_UPDATE_IF_NOEXIST
	// keeps us from replacing another program.
	nlFlags |= 1 << 0
	nl, lerr := netlink.LinkByIndex(a.Ifindex)
	if lerr != nil {
		return lerr
	}
	if err := netlink.LinkSetXdpFdWithFlags(nl, prog.FD(), nlFlags); err != nil {
		return fmt.Errorf("netlink attach: %w", err)
	}
	a.nlFlags = nlFlags &^ 1
	return nil
}

// Pin pins the bpf_link at path so the program stays attached while pinned.
// Attachments made through netlink have no link and are not pinned.
func (a *Attachment) Pin(path string) error {
	if a.link == nil {
		return nil
	}
	if err := a.link.Pin(path); err != nil {
		return fmt.Errorf("pinning XDP link at %s: %w", path, err)
	}
	return nil
}

// Detach removes the program from the interface (and the link's pin).
func (a *Attachment) Detach() error {
	if a.link != nil {
		_ = a.link.Unpin()
		if err := a.link.Close(); err != nil {
			return fmt.Errorf("detaching XDP link from %s: %w", a.Ifname, err)
		}
		return nil
	}
	nl, err := netlink.LinkByIndex(a.Ifindex)
	if err != nil {
		return fmt.Errorf("detaching XDP from %s: %w", a.Ifname, err)
	}
	if err := netlink.LinkSetXdpFdWithFlags(nl, -1, a.nlFlags); err != nil {
		return fmt.Errorf("detaching XDP from %s: %w", a.Ifname, err)
	}
	return nil
}

// DetachNeedsCaps reports whether Detach needs CAP_NET_ADMIN: a netlink
// attachment is removed by netlink; a bpf_link goes when its pin is
// unlinked and its last descriptor closed, which needs no capability.
func (a *Attachment) DetachNeedsCaps() bool { return a.link == nil }

// XDPAttached reports whether an XDP program is attached to ifname, and its id.
func XDPAttached(ifname string) (bool, uint32, error) {
	nl, err := netlink.LinkByName(ifname)
	if err != nil {
		return false, 0, fmt.Errorf("looking up interface %q: %w", ifname, err)
	}
	x := nl.Attrs().Xdp
	if x == nil || !x.Attached {
		return false, 0, nil
	}
	return true, x.ProgId, nil
}
