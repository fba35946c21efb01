// Command mxsensor is the sensor MX: an XDP program that records and rejects
// every SMTP SYN, and the agent and tools around it.
package main

import "os"

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		printError(root, os.Stderr, err)
		os.Exit(1)
	}
}
