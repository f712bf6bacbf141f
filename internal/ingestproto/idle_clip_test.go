package ingestproto

import "testing"

func TestIdleClipMessagesDecode(t *testing.T) {
	b, err := DecodeBinary(AppendBinary(nil, Binary{Kind: KindIdleClip, Session: "demo", Index: 74, Payload: []byte{1}}))
	if err != nil || b.Kind != KindIdleClip || b.Index != 74 || len(b.Payload) != 1 {
		t.Fatalf("idle clip frame: %+v, %v", b, err)
	}
	if _, err := DecodeBinary(AppendBinary(nil, Binary{Kind: KindIdleClip + 1, Session: "demo"})); err == nil {
		t.Fatal("a kind past the idle clip's was accepted")
	}
	m, err := DecodeText([]byte(`{"type":"idle_clip","session":"demo","frames":75}`))
	if err != nil || m.Type != TypeIdleClip || m.Frames != 75 {
		t.Fatalf("idle_clip: %+v, %v", m, err)
	}
}
