// The seed stack's chat, as a peer for `make bench` (bench/seed_peer.py starts it):
// Express + Socket.IO 4 (WebSocket transport only, no compression) + Mongoose 8.
// A `sendMessage` event with an ack does one save(), waits for it, emits `newMessage` to the
// conversation's room, then acks. No auth, no order under concurrency, no idempotency, no
// resume: what the seed systems did, kept so the comparison is honest.
"use strict";

const http = require("http");
const express = require("express");
const mongoose = require("mongoose");
const { Server } = require("socket.io");

const messageSchema = new mongoose.Schema(
  {
    conversationId: { type: String, required: true },
    senderId: { type: String, required: true },
    clientId: { type: String },
    text: { type: String, required: true },
  },
  { timestamps: true },
);
// The seed schema's one index: a conversation's history, oldest first.
messageSchema.index({ conversationId: 1, createdAt: 1 });
const Message = mongoose.model("Message", messageSchema);

async function main() {
  const url = process.env.MONGODB_URL;
  if (!url) throw new Error("MONGODB_URL is required");
  await mongoose.connect(url, { dbName: "seed_chat" });
  await Message.init(); // builds the index before the first send

  const app = express();
  app.get("/health", (req, res) => res.json({ ok: true }));
  const server = http.createServer(app);
  const io = new Server(server, {
    transports: ["websocket"],
    perMessageDeflate: false,
    serveClient: false,
  });

  io.on("connection", (socket) => {
    const userId = String(socket.handshake.query.userId || socket.id);
    socket.on("joinConversation", (conversationId, ack) => {
      socket.join(String(conversationId));
      if (typeof ack === "function") ack({ ok: true });
    });
    socket.on("sendMessage", async (data, ack) => {
      try {
        const message = new Message({
          conversationId: String(data.conversationId),
          senderId: userId,
          clientId: data.clientId,
          text: data.text,
        });
        await message.save();
        io.to(message.conversationId).emit("newMessage", message);
        if (typeof ack === "function") ack({ ok: true, id: message._id });
      } catch (err) {
        if (typeof ack === "function") ack({ ok: false, error: String(err && err.message) });
      }
    });
  });

  const port = Number(process.env.PORT || 0);
  server.listen(port, "127.0.0.1", () => {
    // bench/servers.py reads this line to find the URL.
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
  const stop = () => {
    io.close();
    mongoose.disconnect().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
