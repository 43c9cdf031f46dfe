package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"lookout/internal/redistest"
)

// TestProductionModeRefusesInsecureKafka (S6): without --insecure-dev,
// brokers off loopback need TLS and SASL, and SASL needs credentials.
func TestProductionModeRefusesInsecureKafka(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--brokers", "kafka.example:9093"}, "kafka-tls, kafka-sasl"},
		{[]string{"--brokers", "kafka.example:9093", "--kafka-tls"}, "kafka-tls, kafka-sasl"},
		{[]string{"--brokers", "kafka.example:9093", "--kafka-tls", "--kafka-sasl", "scram-sha-512"}, "kafka-user, kafka-password"},
		{[]string{"--kafka-sasl", "kerberos"}, "kafka-sasl"},
		{[]string{"--kafka-ca", "/tmp/ca.pem"}, "kafka-ca"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"serve"}, c.args...), mapEnv(nil), strings.NewReader(""), &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, %q; want a refusal naming %s", c.args, code, errb.String(), c.want)
		}
	}
}

// selfSignedTLS makes a CA-less self-signed certificate for 127.0.0.1 and
// writes it as the CA file lookout trusts.
func selfSignedTLS(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, ca
}

// TestKafkaOverTLSWithSCRAM (S6): lookout consumes and dead-letters over
// TLS with SASL/SCRAM-SHA-256 against kfake's TLS and SASL support.
func TestKafkaOverTLSWithSCRAM(t *testing.T) {
	serverTLS, ca := selfSignedTLS(t)
	kc := startKafka(t, kfake.TLS(serverTLS), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "lookout", "kafka-secret"))
	brokers := kc.ListenAddrs()
	rs := redistest.Start(t)
	cfg := serveConfig{Brokers: strings.Join(brokers, ","), KafkaTLS: true, KafkaCA: ca, KafkaSASL: "scram-sha-256",
		KafkaUser: "lookout", KafkaPassword: "kafka-secret"}
	dialer, transport, err := cfg.kafkaSecurity()
	if err != nil {
		t.Fatal(err)
	}
	// Produce over the same secured connection.
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "posts", Transport: transport, BatchTimeout: 5 * time.Millisecond}
	msgs := []kafka.Message{postMsg("tls-1", "tls-author", "今晚就吃掉攒的安眠药，永别了"), {Key: []byte("x"), Value: []byte("{bad")}}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatalf("produce over TLS+SCRAM: %v", err)
	}
	w.Close()
	// Without credentials the broker refuses.
	plainCfg := serveConfig{KafkaTLS: true, KafkaCA: ca, KafkaSASL: "none"}
	pd, _, _ := plainCfg.kafkaSecurity()
	if conn, err := pd.DialContext(context.Background(), "tcp", brokers[0]); err == nil {
		_, err = conn.ReadPartitions("posts")
		conn.Close()
		if err == nil {
			t.Fatal("kfake served a client without SASL")
		}
	}
	base, _, stop := runInProcessWith(t, func(c *serveConfig) {
		c.Brokers, c.RedisURL, c.Group = strings.Join(brokers, ","), rs.URL(), "tls"
		c.KafkaTLS, c.KafkaCA, c.KafkaSASL, c.KafkaUser, c.KafkaPassword = true, ca, "scram-sha-256", "lookout", "kafka-secret"
	})
	_ = base
	deadline := time.Now().Add(30 * time.Second)
	for rs.Client.HLen(context.Background(), "lookout:{t}:postcase").Val() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the post was not consumed over TLS+SCRAM")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	_ = dialer
}
