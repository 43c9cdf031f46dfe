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
	"os/exec"
	"path/filepath"
	"strconv"
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
	cfg, ca, _ := selfSignedFiles(t)
	return cfg, ca
}

// selfSignedFiles is selfSignedTLS that also writes the key, for servers
// configured by file (redis-server).
func selfSignedFiles(t *testing.T) (*tls.Config, string, string) {
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
	dir := t.TempDir()
	ca, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, ca, keyFile
}

// TestRedisOverTLSWithACL (S6): lookout works with a TLS-only Redis whose
// default user is off and whose only account is an ACL user; a wrong
// password or a plain connection is refused with an error that carries
// no secret.
func TestRedisOverTLSWithACL(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found")
	}
	_, ca, key := selfSignedFiles(t)
	port := freeTCPPort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", ca, "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", "no",
		"--dir", dir, "--save", "", "--appendonly", "yes", "--maxmemory-policy", "noeviction",
		"--user", "default", "off", "--user", "lookout", "on", ">redis-secret", "~*", "&*", "+@all")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("TLS redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	url := "rediss://lookout:redis-secret@127.0.0.1:" + strconv.Itoa(port) + "/0"
	rdb, err := newRedis(url, ca)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := checkRedis(context.Background(), rdb, discardLogger()); err != nil {
		t.Fatalf("TLS + ACL Redis refused: %v", err)
	}
	for _, bad := range []struct{ url, ca string }{
		{"rediss://lookout:wrong-secret@127.0.0.1:" + strconv.Itoa(port) + "/0", ca},
		{"redis://lookout:redis-secret@127.0.0.1:" + strconv.Itoa(port) + "/0", ""},
		{"rediss://127.0.0.1:" + strconv.Itoa(port) + "/0", ca},
	} {
		c, err := newRedis(bad.url, bad.ca)
		if err != nil {
			t.Fatal(err)
		}
		err = checkRedis(context.Background(), c, discardLogger())
		c.Close()
		if err == nil {
			t.Errorf("%s was accepted", strings.Replace(bad.url, "secret", "***", 1))
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error carries the password: %v", err)
		}
	}
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	produce(t, brokers, []kafka.Message{postMsg("tls-redis-1", "tls-author", "今晚就吃掉攒的安眠药，永别了")})
	_, _, stop := runInProcessWith(t, nil, func(c *serveConfig) {
		c.Brokers, c.RedisURL, c.RedisCA, c.Group = strings.Join(brokers, ","), url, ca, "tls-redis"
	})
	waitCommitted(t, brokers, "tls-redis", 30*time.Second)
	stop()
	if n := rdb.HLen(context.Background(), "lookout:{t}:posthash").Val(); n != 1 {
		t.Fatalf("%d cases in the TLS Redis, want 1", n)
	}
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
	base, _, stop := runInProcessWith(t, nil, func(c *serveConfig) {
		c.Brokers, c.RedisURL, c.Group = strings.Join(brokers, ","), rs.URL(), "tls"
		c.KafkaTLS, c.KafkaCA, c.KafkaSASL, c.KafkaUser, c.KafkaPassword = true, ca, "scram-sha-256", "lookout", "kafka-secret"
	})
	_ = base
	deadline := time.Now().Add(30 * time.Second)
	for rs.Client.HLen(context.Background(), "lookout:{t}:posthash").Val() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the post was not consumed over TLS+SCRAM")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	_ = dialer
}
