// Package pkg is the `package` resource kind: system packages through the
// host's package manager (apt today).
package pkg
