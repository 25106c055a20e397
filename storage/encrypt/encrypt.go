// Package encrypt keeps the bodies of messages posted to queues whose
// metadata sets _enable_encrypt_messages encrypted at rest, as Zaqar does:
// AES-256 in CBC mode with PKCS#7 padding and a random IV per message,
// under the SHA-256 digest of [transport] message_encryption_key. It is a
// layer over any storage.Store (the embedded engine, Redis, pools), so no
// store knows about it: bodies are encrypted before the store sees them
// and decrypted in every answer that carries them (list, get, get by ids,
// claim, claim get, pop).
//
// A stored encrypted body is a JSON string, "zaqar-aes256:" followed by
// the base64 of IV and ciphertext, so every store keeps it as any other
// body. The plaintext is the body's JSON text. Reads decrypt every body
// with that prefix, whatever the queue's flag says now, so turning the
// flag off later loses nothing.
package encrypt

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/zaqar-go/zaqar/storage"
)

// Errors of the layer; the transport answers both with 503, as Zaqar.
var (
	// ErrNoKey: a message was posted to an encrypted queue while no key
	// is configured.
	ErrNoKey = errors.New("encrypt: no message_encryption_key configured")
	// ErrCorrupted: a stored body could not be decrypted with the
	// configured key (another key wrote it, or it was altered).
	ErrCorrupted = errors.New("encrypt: encrypted data appears to be corrupted")
)

// prefix starts an encrypted body: the opening quote of the JSON string
// and a tag naming the scheme.
const prefix = `"zaqar-aes256:`

// Store encrypts and decrypts bodies around an inner store. Its methods
// are safe for concurrent use, as the inner store's are.
type Store struct {
	storage.Store
	block cipher.Block // nil without a key
	flags *flags
}

// Wrap returns inner with encryption; key is the configured
// message_encryption_key ("" = none: posts to encrypted queues fail).
func Wrap(inner storage.Store, key string) *Store {
	s := &Store{Store: inner, flags: newFlags(inner)}
	if key != "" {
		digest := sha256.Sum256([]byte(key))
		// aes.NewCipher fails only on a key that is not 16, 24 or 32
		// bytes long; a SHA-256 digest is 32.
		s.block, _ = aes.NewCipher(digest[:])
	}
	return s
}

// Enabled reports whether a queue's metadata asks for encryption.
func Enabled(meta storage.Metadata) bool { return storage.EncryptionEnabled(meta) }

// PostMessages encrypts the bodies when the queue asks for it (see flags
// for how that is known, and what is guaranteed).
func (s *Store) PostMessages(ctx context.Context, project, queue, clientID string, msgs []storage.NewMessage) ([]string, error) {
	return s.flags.post(ctx, project, queue, clientID, msgs, s.sealAll)
}

func (s *Store) sealAll(msgs []storage.NewMessage) ([]storage.NewMessage, error) {
	if s.block == nil {
		return nil, ErrNoKey
	}
	sealed := make([]storage.NewMessage, len(msgs))
	for i, m := range msgs {
		sealed[i] = m
		var err error
		if sealed[i].Body, err = s.seal(m.Body); err != nil {
			return nil, err
		}
	}
	return sealed, nil
}

// CreateQueue creates the queue, ordered with the queue's posts.
func (s *Store) CreateQueue(ctx context.Context, project, queue string, meta storage.Metadata) (created bool, err error) {
	err = s.flags.changing(project, queue, func() error {
		created, err = s.Store.CreateQueue(ctx, project, queue, meta)
		return err
	})
	return created, err
}

// SetQueueMetadata changes the metadata, ordered with the queue's posts:
// once it returns, posts follow the new _enable_encrypt_messages.
func (s *Store) SetQueueMetadata(ctx context.Context, project, queue string, meta storage.Metadata) error {
	return s.flags.changing(project, queue, func() error { return s.Store.SetQueueMetadata(ctx, project, queue, meta) })
}

// DeleteQueue deletes the queue, ordered with the queue's posts.
func (s *Store) DeleteQueue(ctx context.Context, project, queue string) error {
	return s.flags.changing(project, queue, func() error { return s.Store.DeleteQueue(ctx, project, queue) })
}

// seal encrypts a body into its stored form.
func (s *Store) seal(plain []byte) ([]byte, error) {
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, aes.BlockSize+len(plain)+pad)
	iv := buf[:aes.BlockSize]
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("encrypt: iv: %w", err)
	}
	data := buf[aes.BlockSize:]
	copy(data, plain)
	for i := len(plain); i < len(data); i++ {
		data[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(s.block, iv).CryptBlocks(data, data)
	out := make([]byte, 0, len(prefix)+base64.StdEncoding.EncodedLen(len(buf))+1)
	out = append(out, prefix...)
	out = base64.StdEncoding.AppendEncode(out, buf)
	return append(out, '"'), nil
}

// open decrypts a stored body; ok is false when it is not in the
// encrypted form.
func (s *Store) open(stored []byte) (plain []byte, ok bool, err error) {
	if !bytes.HasPrefix(stored, []byte(prefix)) || len(stored) < len(prefix)+1 || stored[len(stored)-1] != '"' {
		return nil, false, nil
	}
	if s.block == nil {
		return nil, true, ErrNoKey
	}
	buf, err := base64.StdEncoding.AppendDecode(nil, stored[len(prefix):len(stored)-1])
	if err != nil || len(buf) < 2*aes.BlockSize || len(buf)%aes.BlockSize != 0 {
		return nil, true, ErrCorrupted
	}
	iv, data := buf[:aes.BlockSize], buf[aes.BlockSize:]
	cipher.NewCBCDecrypter(s.block, iv).CryptBlocks(data, data)
	pad := int(data[len(data)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, true, ErrCorrupted
	}
	for _, b := range data[len(data)-pad:] {
		if int(b) != pad {
			return nil, true, ErrCorrupted
		}
	}
	// A wrong key that happens to leave valid padding still gives no
	// JSON text.
	if plain = data[:len(data)-pad]; !json.Valid(plain) {
		return nil, true, ErrCorrupted
	}
	return plain, true, nil
}

// openAll decrypts the bodies of msgs in place. A body that looks
// encrypted but cannot be opened is an error only in a queue that asks for
// encryption: elsewhere it is a client's string that merely starts like
// ours, returned as posted.
func (s *Store) openAll(ctx context.Context, project, queue string, msgs []storage.Message) error {
	checked, encrypted := false, false
	for i := range msgs {
		plain, ok, err := s.open(msgs[i].Body)
		if !ok {
			continue
		}
		if err != nil {
			if !checked {
				meta, merr := s.Store.GetQueueMetadata(ctx, project, queue)
				if merr != nil && !errors.Is(merr, storage.ErrQueueNotFound) {
					return merr
				}
				checked, encrypted = true, Enabled(meta)
			}
			if encrypted {
				return err
			}
			continue
		}
		msgs[i].Body = plain
	}
	return nil
}

// ListMessages decrypts the page.
func (s *Store) ListMessages(ctx context.Context, project, queue string, opts storage.ListMessagesOptions) ([]storage.Message, string, error) {
	msgs, marker, err := s.Store.ListMessages(ctx, project, queue, opts)
	if err != nil {
		return nil, "", err
	}
	return msgs, marker, s.openAll(ctx, project, queue, msgs)
}

// GetMessage decrypts the message.
func (s *Store) GetMessage(ctx context.Context, project, queue, id string) (storage.Message, error) {
	m, err := s.Store.GetMessage(ctx, project, queue, id)
	if err != nil {
		return m, err
	}
	one := []storage.Message{m}
	err = s.openAll(ctx, project, queue, one)
	return one[0], err
}

// GetMessages decrypts the messages.
func (s *Store) GetMessages(ctx context.Context, project, queue string, ids []string) ([]storage.Message, error) {
	msgs, err := s.Store.GetMessages(ctx, project, queue, ids)
	if err != nil {
		return nil, err
	}
	return msgs, s.openAll(ctx, project, queue, msgs)
}

// PopMessages decrypts the popped messages (Zaqar forgets to). In an
// encrypted queue it pops as Zaqar's Redis store does, by claiming then
// deleting, so that messages this server cannot decrypt (another key)
// are released rather than deleted unseen.
func (s *Store) PopMessages(ctx context.Context, project, queue string, n int) ([]storage.Message, error) {
	meta, err := s.Store.GetQueueMetadata(ctx, project, queue)
	if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
		return nil, err
	}
	if !Enabled(meta) {
		msgs, err := s.Store.PopMessages(ctx, project, queue, n)
		if err != nil {
			return nil, err
		}
		return msgs, s.openAll(ctx, project, queue, msgs)
	}
	c, err := s.CreateClaim(ctx, project, queue, storage.ClaimOptions{TTL: popClaimTTL, Limit: n})
	if err != nil || len(c.Messages) == 0 {
		return nil, err
	}
	ids := make([]string, len(c.Messages))
	for i := range c.Messages {
		ids[i] = c.Messages[i].ID
		c.Messages[i].ClaimID = ""
	}
	if err := s.Store.DeleteMessages(ctx, project, queue, ids, []string{c.ID}); err != nil {
		return nil, err
	}
	return c.Messages, nil
}

// popClaimTTL holds messages being popped from an encrypted queue: long
// enough for the delete that follows, short if this server dies between.
const popClaimTTL = 60

// CreateClaim decrypts the claimed messages (Zaqar forgets to). When they
// cannot be decrypted the claim is released: the client gets 503, and the
// messages stay for a server with the right key.
func (s *Store) CreateClaim(ctx context.Context, project, queue string, opts storage.ClaimOptions) (storage.Claim, error) {
	c, err := s.Store.CreateClaim(ctx, project, queue, opts)
	if err != nil {
		return c, err
	}
	if err := s.openAll(ctx, project, queue, c.Messages); err != nil {
		if rerr := s.Store.DeleteClaim(ctx, project, queue, c.ID); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return storage.Claim{}, err
	}
	return c, nil
}

// GetClaim decrypts the claim's messages.
func (s *Store) GetClaim(ctx context.Context, project, queue, claimID string) (storage.Claim, error) {
	c, err := s.Store.GetClaim(ctx, project, queue, claimID)
	if err != nil {
		return c, err
	}
	return c, s.openAll(ctx, project, queue, c.Messages)
}

// HasSubscriptions forwards storage.SubscriptionPresence.
func (s *Store) HasSubscriptions(ctx context.Context, project, queue string) (bool, error) {
	return storage.HasSubscriptions(ctx, s.Store, project, queue)
}

// Changes forwards storage.Waker.
func (s *Store) Changes(project, queue string) (<-chan struct{}, func()) {
	if ch, done, ok := storage.Changes(s.Store, project, queue); ok {
		return ch, done
	}
	return storage.NoChanges()
}

// ClaimChanges forwards storage.ClaimWaker.
func (s *Store) ClaimChanges(project, queue string) (<-chan struct{}, func()) {
	if ch, done, ok := storage.ClaimChanges(s.Store, project, queue); ok {
		return ch, done
	}
	return storage.NoChanges()
}
