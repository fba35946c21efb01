// Command mxsensor is the sensor MX: an XDP program that records and rejects
// every SMTP SYN, and the agent and tools around it.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mxsensor:", err)
		os.Exit(1)
	}
}
