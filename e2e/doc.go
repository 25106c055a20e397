// Package e2e holds end-to-end tests that build and run the real
// zaqar-server binary: crash recovery after kill -9, graceful shutdown,
// start-up errors.
package e2e
