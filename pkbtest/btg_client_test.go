package pkbtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/wrappers"
)

// userClientAs logs in as the seeded user userID with scope.
func userClientAs(t *testing.T, s *pkbtest.Simulator, scope, userID string) *wrappers.UserClient {
	t.Helper()
	s.Auth().SetApproval(pkbtest.Approval{UserID: userID})
	defer s.Auth().SetApproval(pkbtest.Approval{})
	c, err := wrappers.NewUserClient(userSource(t, s, scope))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBreakTheGlassThroughTheClient: a professional of a team without
// consent asks for break-the-glass with REST.BreakTheGlass (docs/pkb-api.md
// §2.5); the privacy-labelled lab results are hidden before, visible on
// calls that carry the BTG token (WithBTG, pages included, or the
// BreakTheGlass call option), and hidden again once it has expired.
func TestBreakTheGlassThroughTheClient(t *testing.T) {
	s := newSim(t, pkbtest.WithPageSize(1))
	c := ctx(t)
	cardio := userClientAs(t, s, "CLINICIAN", pkbtest.SeedSecondClinicianUserID)
	facade := cardio.Facade.Family()
	labs := func(opts ...wrappers.CallOption) []string {
		t.Helper()
		call := &wrappers.Call{Operation: "searchObservation", Query: url.Values{
			"patient": {"Patient/" + pkbtest.SeedPatientID}, "category": {pkbtest.SystemObservationCategory + "|LABORATORY"}}}
		wrappers.Apply(call, opts...)
		page, err := wrappers.FirstPage[stu3.Observation](c, facade, call)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for o, err := range page.All(c) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, o.Id)
		}
		return ids
	}
	if ids := labs(); len(ids) != 0 {
		t.Fatalf("before break-the-glass: %d lab results visible", len(ids))
	}

	b, err := cardio.REST.BreakTheGlass(c, pkbtest.SeedPatientRESTID, pkbtest.SeedSecondClinicianRESTID)
	if err != nil {
		t.Fatal(err)
	}
	if b.PatientID != pkbtest.SeedPatientRESTID || !b.Active(b.ValidUntil.Add(-wrappers.BreakTheGlassDuration+1)) {
		t.Errorf("BTG %v", b)
	}
	// One page at a time: with the option only the first page carries the
	// token, with WithBTG every page does.
	if ids := labs(wrappers.BreakTheGlass(b)); len(ids) == 0 {
		t.Error("the BreakTheGlass option showed nothing")
	}
	btgCtx := wrappers.WithBTG(c, b)
	call := &wrappers.Call{Operation: "searchObservation", Query: url.Values{
		"patient": {"Patient/" + pkbtest.SeedPatientID}, "category": {pkbtest.SystemObservationCategory + "|LABORATORY"}}}
	page, err := wrappers.FirstPage[stu3.Observation](btgCtx, facade, call)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for o, err := range page.All(btgCtx) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.Id)
	}
	if !slices.Contains(ids, pkbtest.SeedSexualHealthObservationID) || !slices.Contains(ids, pkbtest.SeedUnlabelledObservationID) {
		t.Errorf("with WithBTG, over pages of one: %v", ids)
	}

	// The REST API's measurements follow the same rules.
	measures := &wrappers.Call{Operation: "listPatientMeasurements", Path: []string{pkbtest.SeedPatientRESTID},
		Query: url.Values{"apiRefs": {"WEIGHT", "HEART_RATE"}}}
	if got := countMeasures(t, cardio, measures, c); got != 0 {
		t.Errorf("REST measurements without the BTG token: %d", got)
	}
	if got := countMeasures(t, cardio, measures, btgCtx); got == 0 {
		t.Error("REST measurements with the BTG token: none")
	}

	s.ExpireBreakTheGlass()
	if ids := labs(wrappers.BreakTheGlass(b)); len(ids) != 0 {
		t.Errorf("after break-the-glass expired: %d lab results visible", len(ids))
	}
}

// countMeasures sends a listPatientMeasurements call and counts the
// measurements in its JSON array.
func countMeasures(t *testing.T, c *wrappers.UserClient, call *wrappers.Call, cx context.Context) int {
	t.Helper()
	resp, err := c.REST.Family().Do(cx, call)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var arr []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&arr); err != nil {
		t.Fatal(err)
	}
	return len(arr)
}

// TestWrongUserType401SpendsAtMostOneRefresh: a clinician (User Client)
// and a team coordinator (Tethered Client) without PKB's BTG functionality
// get 401 with PKB's plain-text message from break-the-glass
// (docs/pkb-api.md §2.5), a 401 that is not about the token. A sequence
// and a burst of them must not spend the single-use refresh token: the
// simulator counts redemptions. Before the fix every call redeemed one.
func TestWrongUserType401SpendsAtMostOneRefresh(t *testing.T) {
	s := newSim(t)
	c := ctx(t)
	s.SetBreakTheGlassEnabled(pkbtest.SeedClinicianID, false)
	s.SetBreakTheGlassEnabled(pkbtest.SeedCoordinatorID, false)
	clients := map[string]*wrappers.REST{
		"user":     userClientAs(t, s, "CLINICIAN", pkbtest.SeedClinicianUserID).REST,
		"tethered": tetheredClient(t, s).REST,
	}
	for name, rest := range clients {
		// Warm up: a call that works, so the tethered client has redeemed
		// its first refresh token.
		resp, err := rest.Family().Do(c, &wrappers.Call{Operation: "getSelf"})
		if err != nil {
			t.Fatalf("%s: getSelf: %v", name, err)
		}
		resp.Body.Close() // it holds the REST API's one slot until then
		before := s.Stats().RefreshTokenRedemptions
		try := func() {
			_, err := rest.BreakTheGlass(c, pkbtest.SeedPatientRESTID, "")
			var ae *wrappers.APIError
			if !wrappers.IsPermissionDenied(err) || !errors.As(err, &ae) || ae.StatusCode != 401 || !ae.WrongUserType {
				t.Errorf("%s: break-the-glass without BTG enabled: %v", name, err)
			}
		}
		for range 4 {
			try()
		}
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(try)
		}
		wg.Wait()
		if spent := s.Stats().RefreshTokenRedemptions - before; spent > 1 {
			t.Errorf("%s: ten wrong-user-type 401s redeemed %d refresh tokens, want at most 1", name, spent)
		}
		// The session is intact: the next permitted call still works.
		resp, err = rest.Family().Do(c, &wrappers.Call{Operation: "getSelf"})
		if err != nil {
			t.Fatalf("%s: getSelf after the refusals: %v", name, err)
		}
		resp.Body.Close()
	}
	if st := s.Stats(); st.ReuseDetections != 0 || st.SessionsKilled != 0 {
		t.Errorf("reuse detections %d, sessions killed %d", st.ReuseDetections, st.SessionsKilled)
	}
}
