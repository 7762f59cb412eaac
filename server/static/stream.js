// The SpeechSense WebSocket protocol (/v1/stream): a StreamConfig as JSON first, binary LINEAR16 audio, then
// {"end": true}; results arrive as StreamEmotionsResponse JSON, errors as {"error": {code, message}}.
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;

export function streamUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`;
}

export class EmotionStream {
  // handlers: onResult(message), onError({code, message}), onClose(CloseEvent, sawSummary)
  constructor(config, token, handlers) {
    this.handlers = handlers;
    this.sawSummary = false;
    this.ws = new WebSocket(streamUrl());
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => this.ws.send(JSON.stringify(token ? { ...config, token } : config));
    this.ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.error) {
        handlers.onError(message.error);
        return;
      }
      if (message.summary) this.sawSummary = true;
      handlers.onResult(message);
    };
    this.ws.onclose = (event) => handlers.onClose(event, this.sawSummary);
  }

  sendAudio(buffer) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(buffer);
  }

  end() {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ end: true }));
  }
}
