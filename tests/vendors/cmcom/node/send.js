// Sends one message with CM's JavaScript SDK (@cmdotcom/text-sdk) and prints CM's answer as one JSON line:
// {"status": <HTTP status>, "body": <response body>}.
//
// usage: node send.js <folder the SDK is installed in> <base URL> <product token>
//
// The SDK posts to `<base URL>/v1.0/message`; its base URL is the `basePath` of the message's API object.
// With the emulator's root as the base it reaches the gateway; with a BMProxy URL as the base, BMProxy.
"use strict";

const path = require("path");

const [sdkFolder, baseUrl, productToken] = process.argv.slice(2);
const { MessageApiClient } = require(path.join(sdkFolder, "node_modules", "@cmdotcom", "text-sdk"));

const message = new MessageApiClient(productToken)
  .createMessage()
  .setMessage(["0031612345678"], "003197010254321", "Hello from the JS SDK", "js-sdk-1")
  .setAllowedChannels(["WhatsApp"]);
message.api.basePath = baseUrl;

function print(response) {
  console.log(JSON.stringify({ status: response.status, body: response.data }));
}

message.send().then(print, (error) => {
  if (error.response) {
    print(error.response);
  } else {
    console.error(String(error));
    process.exit(2);
  }
});
