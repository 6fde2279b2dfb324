// Package loopback holds the one test of "this host is the machine
// itself" that decides where credentials may travel over plain http: the
// token sources (authn), the API clients (wrappers), pkb verify and the
// pkb command all apply it.
package loopback

import "net"

// Host reports whether host (a URL's Hostname(), without port or
// brackets) is "localhost" or a loopback IP address (127.0.0.0/8, ::1).
// A name that merely resolves to a loopback address does not count: DNS
// is the attacker's to answer.
func Host(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
