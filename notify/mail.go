package notify

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// MailOptions are the [notification] SMTP settings.
type MailOptions struct {
	// Mode: "third_part" pipes the mail to Command (Zaqar's default);
	// "self_local" talks SMTP to Host:Port.
	Mode    string
	Command string // smtp_command (default "/usr/sbin/sendmail -t -oi")
	Host    string // smtp_host
	Port    int    // smtp_port
	User    string // smtp_user_name (empty = no authentication)
	Pass    string // smtp_user_password
	// Security for self_local: "ssl" (implicit TLS, Zaqar's), "starttls"
	// or "none" (plain; only for a local relay).
	Security string
	Sender   string // default From when a subscription gives none
	Timeout  time.Duration
}

type mailer interface {
	send(from, to, subject, body string) error
}

func newMailer(o MailOptions) mailer {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Mode == "self_local" {
		return smtpMailer{o}
	}
	if o.Command == "" {
		o.Command = "/usr/sbin/sendmail -t -oi"
	}
	return commandMailer{o}
}

func buildMessage(from, to, subject, body string) (*mail.Msg, error) {
	m := mail.NewMsg()
	if from != "" {
		if err := m.From(from); err != nil {
			return nil, fmt.Errorf("from %q: %w", from, err)
		}
	}
	if err := m.To(to); err != nil {
		return nil, fmt.Errorf("to %q: %w", to, err)
	}
	m.Subject(subject)
	m.SetBodyString(mail.TypeTextPlain, body)
	return m, nil
}

// commandMailer pipes an RFC 5322 message to a sendmail-compatible command.
type commandMailer struct{ o MailOptions }

func (c commandMailer) send(from, to, subject, body string) error {
	m, err := buildMessage(from, to, subject, body)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return err
	}
	argv := strings.Fields(c.o.Command)
	if len(argv) == 0 {
		return errors.New("smtp_command is empty")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", argv[0], err, bytes.TrimSpace(out))
	}
	return nil
}

// smtpMailer talks SMTP to the configured server.
type smtpMailer struct{ o MailOptions }

func (s smtpMailer) send(from, to, subject, body string) error {
	m, err := buildMessage(from, to, subject, body)
	if err != nil {
		return err
	}
	opts := []mail.Option{mail.WithPort(s.o.Port), mail.WithTimeout(s.o.Timeout)}
	switch s.o.Security {
	case "starttls":
		opts = append(opts, mail.WithTLSPortPolicy(mail.TLSMandatory), mail.WithPort(s.o.Port))
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithSSL(), mail.WithPort(s.o.Port))
	}
	if s.o.User != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(s.o.User), mail.WithPassword(s.o.Pass))
	}
	c, err := mail.NewClient(s.o.Host, opts...)
	if err != nil {
		return err
	}
	return c.DialAndSend(m)
}
