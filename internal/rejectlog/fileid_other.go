//go:build !unix

package rejectlog

import "os"

// fileID identifies a file on a machine: device and inode. Without them
// (not a Unix system) files are recognised by their first bytes alone.
type fileID struct{ dev, ino uint64 }

func idOf(os.FileInfo) fileID { return fileID{} }
