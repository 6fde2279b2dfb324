package engines

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

func redisPing(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestRedisStopStart(t *testing.T) {
	r := StartRedis(t)
	if got, err := redisPing(r.Addr); err != nil || strings.TrimSpace(got) != "+PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	r.Stop(t)
	if _, err := redisPing(r.Addr); err == nil {
		t.Fatal("stopped server still answers")
	}
	r.Start(t)
	if got, err := redisPing(r.Addr); err != nil || strings.TrimSpace(got) != "+PONG" {
		t.Fatalf("after restart PING = %q, %v", got, err)
	}
}

func TestPostgresRestart(t *testing.T) {
	p := StartPostgres(t)
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	dial := func() error {
		c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatal(err)
	}
	p.Stop(t)
	if dial() == nil {
		t.Fatal("stopped server still accepts connections")
	}
	p.Start(t)
	if err := dial(); err != nil {
		t.Fatal(err)
	}
}
