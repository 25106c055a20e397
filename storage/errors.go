package storage

import "errors"

// Sentinel errors returned (possibly wrapped) by every Store implementation.
// Callers branch with errors.Is; the HTTP layer maps each to one status.
var (
	// ErrQueueNotFound: the queue does not exist in the project (404).
	ErrQueueNotFound = errors.New("storage: queue not found")
	// ErrMessageNotFound: no live message with that id in the queue (404).
	ErrMessageNotFound = errors.New("storage: message not found")
	// ErrClaimNotFound: the claim id is unknown, malformed or expired
	// (404 on claim routes, 400 on message delete with claim_id).
	ErrClaimNotFound = errors.New("storage: claim not found or expired")
	// ErrMessageClaimed: the message is held by a live claim and the caller
	// gave no claim id or another claim's id (403).
	ErrMessageClaimed = errors.New("storage: message is claimed")
	// ErrMessageNotClaimed: a claim id was given but the message is not
	// currently claimed (400).
	ErrMessageNotClaimed = errors.New("storage: message is not claimed")
	// ErrSubscriptionNotFound: no live subscription with that id (404).
	ErrSubscriptionNotFound = errors.New("storage: subscription not found")
	// ErrDuplicate: the change would create a second object where only one
	// may exist, e.g. two subscriptions of one subscriber to one queue (409).
	ErrDuplicate = errors.New("storage: duplicate")
	// ErrLimitExceeded: a store-side bound was reached (queue count, batch
	// size the store cannot hold) (400).
	ErrLimitExceeded = errors.New("storage: limit exceeded")
	// ErrUnavailable: the backend cannot serve the request right now
	// (disk failure, Redis down, store closed) (503).
	ErrUnavailable = errors.New("storage: backend unavailable")
	// ErrStorageFull: the store keeps no more messages for now: its disk
	// is down to the reserve it keeps for deletes, claims and restarts, or
	// its configured budget is used (503). Reads, claims and deletes still
	// work, and posts are accepted again once space is back. Returned as
	// *StorageFullError.
	ErrStorageFull = errors.New("storage: out of space for new messages")
	// ErrEncryptionRequired: a post without encryption to a queue whose
	// metadata sets _enable_encrypt_messages (PlaintextGuard).
	ErrEncryptionRequired = errors.New("storage: the queue's messages must be encrypted")
	// ErrFlavorNotFound: a queue names a flavor (_flavor) that does not
	// exist, in pooling mode (400). Returned as *FlavorNotFoundError.
	ErrFlavorNotFound = errors.New("storage: flavor not found")
)

// FlavorNotFoundError names the missing flavor; errors.Is matches
// ErrFlavorNotFound.
type FlavorNotFoundError struct{ Flavor string }

func (e *FlavorNotFoundError) Error() string { return "Flavor " + e.Flavor + " does not exist" }

// Is makes errors.Is(err, ErrFlavorNotFound) hold.
func (e *FlavorNotFoundError) Is(target error) bool { return target == ErrFlavorNotFound }

// StorageFullError says why a store refuses new messages; errors.Is
// matches ErrStorageFull.
type StorageFullError struct{ Reason string }

func (e *StorageFullError) Error() string { return "storage is full: " + e.Reason }

// Is makes errors.Is(err, ErrStorageFull) hold.
func (e *StorageFullError) Is(target error) bool { return target == ErrStorageFull }

// LimitError is a store-side bound a request would exceed, in words for
// the client; errors.Is matches ErrLimitExceeded.
type LimitError struct{ Msg string }

func (e *LimitError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrLimitExceeded) hold.
func (e *LimitError) Is(target error) bool { return target == ErrLimitExceeded }
