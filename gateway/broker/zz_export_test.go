package broker

func (b *Broker) Counts() (int, int) { return b.counts() }
func (b *Broker) Clients() int      { return b.srv.Clients.Len() }
