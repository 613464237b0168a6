"""What the tests share: fakes of the domain's ports, a clock, HTTP and chat clients, the
people and friendships most tests start from, a live server. Test modules import from here,
never from one another."""
