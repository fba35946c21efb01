package dataplane

import (
	"errors"
	"fmt"
	"os"
)

// ErrPermission is wrapped by errors caused by missing privileges.
var ErrPermission = errors.New("permission denied")

// explainPerm turns EPERM into an error that names the capabilities needed.
func explainPerm(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: %w (mxsensor needs CAP_BPF and CAP_PERFMON to load the XDP program and CAP_NET_ADMIN to attach it; run as root or grant them, e.g. AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON)", ErrPermission, err)
	}
	return err
}
